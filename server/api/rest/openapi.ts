import { generateOpenApiDocument } from 'trpc-to-openapi';
import { appRouter } from '../router.ts';

/** The OpenAPI document of the REST API, generated from the same zod schemas the procedures use. */
export function buildOpenApiDocument(baseUrl: string, version: string) {
  return generateOpenApiDocument(appRouter, {
    title: 'NMSlite API',
    description:
      'Monitor Windows fleets across many sites. Log in with POST /auth/login, then send `Authorization: Bearer <token>`.',
    version,
    baseUrl,
    securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
  });
}
