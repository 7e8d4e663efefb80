/** The server's version: reported by /health, the OpenAPI document and the Postman collection. */
export const SERVER_VERSION = '0.1.0';
