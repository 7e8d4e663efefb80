import { generateOpenApiDocument } from 'trpc-to-openapi';
import { appRouter } from '../router.ts';
import { documentOperations, successStatuses } from './openapi-docs.ts';

/**
 * The OpenAPI document of the REST API, generated from the same zod schemas the procedures use, with
 * each operation's description, examples, real success status and error responses (openapi-docs.ts).
 */
export function buildOpenApiDocument(baseUrl: string, version: string) {
  const doc = generateOpenApiDocument(appRouter, {
    title: 'NMSlite API',
    description:
      'Monitor Windows fleets across many sites. Log in with POST /auth/login, then send `Authorization: Bearer <token>`. ' +
      'Every error is `{"error": {"code", "message", "details"}}`; a validation error names the field and the reason.',
    version,
    baseUrl,
    securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
  });
  return documentOperations(doc, successStatuses(appRouter));
}
