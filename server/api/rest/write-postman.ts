import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SERVER_VERSION } from '../../version.ts';
import { buildPostmanCollection } from './postman.ts';

// Needs only the OpenAPI document, built from the routers' schemas: no database, no server (test/dependency-rule.test.ts).
export const POSTMAN_COLLECTION_PATH = fileURLToPath(new URL('./postman-collection.json', import.meta.url));
writeFileSync(POSTMAN_COLLECTION_PATH, `${JSON.stringify(buildPostmanCollection(SERVER_VERSION), null, 2)}\n`);
console.log(`wrote ${POSTMAN_COLLECTION_PATH}`);
