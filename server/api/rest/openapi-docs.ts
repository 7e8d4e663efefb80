import type { AnyTRPCProcedure, AnyTRPCRouter } from '@trpc/server';
import { ERROR_STATUS } from '../../errors.ts';
import type { ApiMeta } from '../trpc.ts';
import { OPERATION_DOCS } from './openapi-examples.ts';

/**
 * What the generator cannot know, added to the generated OpenAPI document in one place instead of in
 * every router: each operation's description and examples (openapi-examples.ts, keyed by operationId),
 * the success status the REST handler really sends (201, 204, 202), which operations need no token,
 * and the one error shape the API returns (`{error: {code, message, details}}`, api/trpc.ts
 * toErrorBody) in place of trpc-to-openapi's own, for the statuses each operation can answer.
 */

export interface OperationDoc {
  description: string;
  /** The JSON body example (operations with a request body). */
  request?: Record<string, unknown>;
  /** Path and query parameter examples, by name (every path parameter; query ones where useful). */
  params?: Record<string, unknown>;
  /** The success response example (omitted for 204). */
  response?: unknown;
  /** A second success status and its example (discovery runs: 202 while still running). */
  alternative?: { status: number; description: string; example: unknown };
  /** Error statuses beyond the defaults (400, 500; 401 unless public; 404 with a path parameter). Public: `protect: false` in the router. */
  errors?: number[];
  /** This operation's own error examples, by status (else a generic one for the status). */
  errorExamples?: Partial<Record<number, unknown>>;
}

type Schema = Record<string, unknown>;
interface Media {
  schema?: Schema;
  example?: unknown;
}
interface Response {
  description: string;
  content?: Record<string, Media>;
}
interface Parameter {
  in: string;
  name: string;
  schema?: Schema;
  example?: unknown;
  required?: boolean;
}
interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  security?: unknown[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, Media> };
  responses?: Record<string, Response>;
}
interface Document {
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

export const ERROR_SCHEMA_NAME = 'Error';
const ERROR_REF = { $ref: `#/components/schemas/${ERROR_SCHEMA_NAME}` };

/** Every error answer of the REST API: api/trpc.ts toErrorBody and the refusals in rest-handler.ts. */
export const ERROR_SCHEMA: Schema = {
  type: 'object',
  description: 'Every REST error has this shape. A validation error names the field and the reason.',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      additionalProperties: false,
      properties: {
        code: {
          type: 'string',
          enum: [...Object.keys(ERROR_STATUS), 'METHOD_NOT_ALLOWED', 'PAYLOAD_TOO_LARGE'],
          description: 'Stable machine-readable code; the HTTP status follows from it',
        },
        message: { type: 'string', description: 'For people; a validation error reads "<field>: <reason>"' },
        details: {
          type: 'object',
          description: 'Extra facts, by error',
          additionalProperties: true,
          properties: {
            field: { type: 'string', description: 'VALIDATION_ERROR: the offending field, "(body)" or "(path)"' },
            reason: { type: 'string', description: 'VALIDATION_ERROR: what is wrong with it' },
            issues: {
              type: 'array',
              description: 'VALIDATION_ERROR from schema checks: every problem found',
              items: {
                type: 'object',
                required: ['path', 'message'],
                properties: { path: { type: 'string' }, message: { type: 'string' } },
              },
            },
            retry_after: {
              type: 'integer',
              description: 'RATE_LIMITED: seconds to wait (also the Retry-After header)',
            },
          },
        },
      },
    },
  },
};

const err = (code: string, message: string, details: Record<string, unknown> = {}) => ({
  error: { code, message, details },
});

/** Each status's description and example when an operation does not bring its own. */
const ERROR_RESPONSES: Record<number, { description: string; example: unknown }> = {
  400: {
    description: 'Invalid input: the body, a parameter or a rule of the operation (details.field and details.reason)',
    example: err('VALIDATION_ERROR', 'name: must not be empty', {
      field: 'name',
      reason: 'must not be empty',
      issues: [{ path: 'name', message: 'must not be empty' }],
    }),
  },
  401: {
    description: 'Missing, invalid, expired or revoked token (send `Authorization: Bearer <token>`)',
    example: err('UNAUTHORIZED', 'missing, invalid or expired token'),
  },
  403: {
    description: 'Refused for this caller',
    example: err('FORBIDDEN', 'this agent is disabled'),
  },
  404: {
    description: 'No such entity',
    example: err('NOT_FOUND', 'Device not found', { id: 42 }),
  },
  409: {
    description: 'Conflicts with the current state (a unique name taken, a run already in progress)',
    example: err('CONFLICT', 'a Device with this IP for this agent already exists (devices agent ip)', {
      constraint: 'devices_agent_ip_key',
    }),
  },
  429: {
    description: 'Too many requests: wait details.retry_after seconds (also the Retry-After header)',
    example: err('RATE_LIMITED', 'too many failed logins; try again in 30 s', { retry_after: 30 }),
  },
  500: {
    description: 'Internal error (the cause is in the server log, never in the response)',
    example: err('INTERNAL', 'internal error'),
  },
  503: {
    description: 'The agent that must do this is not connected',
    example: err('UNAVAILABLE', "no agent connected: the discovery profile's agent is offline", { agent_id: 3 }),
  },
};

const SUCCESS_DESCRIPTION: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No content' };

/** The REST success status of each operation, by "METHOD path", from the procedures' meta (as rest-handler.ts). */
export function successStatuses(router: AnyTRPCRouter): Map<string, number> {
  const procedures = (router._def as unknown as { procedures: Record<string, AnyTRPCProcedure> }).procedures;
  const out = new Map<string, number>();
  for (const proc of Object.values(procedures)) {
    const meta = (proc._def as { meta?: ApiMeta }).meta;
    if (meta?.openapi) out.set(`${meta.openapi.method.toLowerCase()} ${meta.openapi.path}`, meta.status ?? 200);
  }
  return out;
}

/** A value valid for `schema`, for an operation without a handwritten example (a new one, until it gets its own). */
export function exampleFromSchema(schema: Schema | undefined, doc: Document, depth = 0): unknown {
  if (!schema || depth > 12) return null;
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return exampleFromSchema(doc.components?.schemas?.[name], doc, depth + 1);
  }
  if ('example' in schema) return schema.example;
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if ('default' in schema) return schema.default;
  const alt = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (alt?.length) return exampleFromSchema(alt.find((s) => s.type !== 'null') ?? alt[0], doc, depth + 1);
  const type = Array.isArray(schema.type) ? (schema.type.find((t) => t !== 'null') ?? 'null') : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      for (const [k, s] of Object.entries(props)) out[k] = exampleFromSchema(s, doc, depth + 1);
      return out;
    }
    case 'array': {
      const min = Number(schema.minItems ?? 0);
      return Array.from({ length: Math.max(min, 1) }, () => exampleFromSchema(schema.items as Schema, doc, depth + 1));
    }
    case 'integer':
    case 'number': {
      const min = Number(
        schema.minimum ?? (schema.exclusiveMinimum !== undefined ? Number(schema.exclusiveMinimum) + 1 : 1),
      );
      return Math.min(Math.max(min, 1), Number(schema.maximum ?? Number.MAX_SAFE_INTEGER));
    }
    case 'boolean':
      return false;
    case 'string':
      if (schema.format === 'date-time') return '2026-11-23T10:00:00.000Z';
      if (schema.format === 'uuid') return '0b5c2f4e-8d1a-4c3b-9f6e-2a7d1e5b8c90';
      return 'x'.repeat(Math.max(Number(schema.minLength ?? 1), 1));
    case 'null':
      return null;
    default:
      return null;
  }
}

/** "/credential-profiles/{id}" → the services' notFound('Credential Profile', id) answer. */
function notFoundExample(path: string): unknown {
  const [, first = '', param] = /^\/([\w-]+)(?:\/\{(\w+)\})?/.exec(path) ?? [];
  const words = first.replace(/s$/, '').split('-');
  const entity = words
    .map((w, i) => (i === 0 || first !== 'discovery-runs' ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join(' ');
  const key = param ?? 'id';
  return err('NOT_FOUND', `${entity} not found`, {
    [key]: key === 'run_id' ? '0b5c2f4e-8d1a-4c3b-9f6e-2a7d1e5b8c90' : 42,
  });
}

/** The unique constraint each resource can hit, as services/common.ts mapDbError words it. */
const UNIQUE: Record<string, [string, string]> = {
  agents: ['an Agent with this name', 'agents_name_unique'],
  'credential-profiles': ['a Credential Profile with this name', 'credential_profiles_name_unique'],
  'discovery-profiles': ['a Discovery Profile with this name', 'discovery_profiles_name_unique'],
  plugins: ['a Plugin with this name', 'plugins_name_unique'],
  devices: ['a Device with this IP for this agent', 'devices_agent_ip_key'],
};
function conflictExample(path: string): unknown {
  const u = UNIQUE[path.split('/')[1] ?? ''];
  if (!u) return ERROR_RESPONSES[409]!.example;
  const words = u[1].replace(/_key$|_unique$/, '').replace(/_/g, ' ');
  return err('CONFLICT', `${u[0]} already exists (${words})`, { constraint: u[1] });
}

function errorStatuses(path: string, d: OperationDoc | undefined, open: boolean): number[] {
  const set = new Set<number>([400, 500, ...(d?.errors ?? [])]);
  if (!open) set.add(401);
  if (/\{\w+\}/.test(path)) set.add(404);
  return [...set].sort((a, b) => a - b);
}

/**
 * Adds descriptions, examples, the real success status and the Error responses to a document from
 * trpc-to-openapi (in place; returns it). `docs` defaults to the handwritten map; an operation
 * missing from it keeps an empty description (test/integration/api/openapi-docs.test.ts fails on it)
 * and gets examples derived from its schemas.
 */
export function documentOperations<D extends object>(
  input: D,
  statuses: Map<string, number>,
  docs: Record<string, OperationDoc> = OPERATION_DOCS,
): D {
  const doc = input as Document;
  doc.components ??= {};
  doc.components.schemas ??= {};
  for (const name of Object.keys(doc.components.schemas))
    if (name.startsWith('error.')) delete doc.components.schemas[name];
  doc.components.schemas[ERROR_SCHEMA_NAME] = ERROR_SCHEMA;

  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(ops)) {
      const d = op.operationId ? docs[op.operationId] : undefined;
      if (d) op.description = d.description;
      // The router's `protect: false` (a publicProcedure) is the one definition of a public operation:
      // trpc-to-openapi then leaves `security` out, which would inherit; say "no token" explicitly.
      const open = !op.security?.length;
      if (open) op.security = [];

      for (const p of op.parameters ?? []) {
        const v = d?.params?.[p.name];
        if (v !== undefined) p.example = v;
        else if (p.required || p.in === 'path') p.example = exampleFromSchema(p.schema, doc);
      }
      const body = op.requestBody?.content?.['application/json'];
      if (body) body.example = d?.request ?? exampleFromSchema(body.schema, doc);

      const status = statuses.get(`${method} ${path}`) ?? 200;
      const generated = op.responses?.['200'];
      const responses: Record<string, Response> = {};
      if (status === 204) responses['204'] = { description: SUCCESS_DESCRIPTION[204]! };
      else {
        const media = generated?.content?.['application/json'] ?? {};
        responses[String(status)] = {
          description: SUCCESS_DESCRIPTION[status] ?? 'OK',
          content: {
            'application/json': {
              ...(media.schema ? { schema: media.schema } : {}),
              example: d?.response ?? exampleFromSchema(media.schema, doc),
            },
          },
        };
        if (d?.alternative)
          responses[String(d.alternative.status)] = {
            description: d.alternative.description,
            content: { 'application/json': { schema: media.schema ?? {}, example: d.alternative.example } },
          };
      }
      for (const s of errorStatuses(path, d, open)) {
        const e = ERROR_RESPONSES[s]!;
        const example =
          d?.errorExamples?.[s] ?? (s === 404 ? notFoundExample(path) : s === 409 ? conflictExample(path) : e.example);
        responses[String(s)] = {
          description: e.description,
          content: { 'application/json': { schema: ERROR_REF, example } },
        };
      }
      op.responses = responses;
    }
  }
  return input;
}
