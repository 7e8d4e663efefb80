import { initTRPC, TRPCError } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { ZodError } from 'zod';
import { normalizeAddress, runAs } from '../audit/actor.ts';
import { AppError } from '../errors.ts';
import type { ApiContext } from './context.ts';

/** Extra meta: the REST success status (201 on create, 204 on delete). */
export type ApiMeta = OpenApiMeta<{ status?: 200 | 201 | 202 | 204 }>;

const t = initTRPC
  .context<ApiContext>()
  .meta<ApiMeta>()
  .create({
    isDev: false,
    errorFormatter({ shape, error }) {
      const body = toErrorBody(error);
      return {
        ...shape,
        message: body.error.message,
        data: { code: shape.data.code, httpStatus: body.status, app: body.error },
      };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
/** Path of the first string in `v` that holds a NUL character (PostgreSQL text cannot store one). */
function nulField(v: unknown, path = ''): string | undefined {
  if (typeof v === 'string') return v.includes('\0') ? path || '(body)' : undefined;
  if (v === null || typeof v !== 'object') return undefined;
  for (const [k, x] of Object.entries(v)) {
    const hit = nulField(x, path ? `${path}.${k}` : k);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/** Every procedure, REST or tRPC: a NUL in any input string is a 400 naming the field, not a database error. */
export const publicProcedure = t.procedure.use(async ({ ctx, getRawInput, next }) => {
  const field = nulField(await getRawInput());
  if (field !== undefined)
    throw new AppError('VALIDATION_ERROR', `${field}: must not contain a NUL character`, {
      field,
      reason: 'must not contain a NUL character',
    });
  // What the procedure changes is audited as its caller's, from the request's address.
  return runAs({ actor: ctx.user?.username ?? 'anonymous', address: normalizeAddress(ctx.ip) }, () => next());
});
export const authedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new AppError('UNAUTHORIZED', 'missing, invalid or expired token');
  return next({ ctx: { ...ctx, user: ctx.user } });
});

export interface ErrorBody {
  status: number;
  error: { code: string; message: string; details: Record<string, unknown> };
}

/** The one mapping from any thrown value to the API's error body; unknown errors say only "internal error". */
export function toErrorBody(err: unknown): ErrorBody {
  const cause = err instanceof TRPCError ? (err.cause ?? err) : err;
  if (cause instanceof AppError)
    return { status: cause.status, error: { code: cause.code, message: cause.message, details: cause.details ?? {} } };
  if (cause instanceof ZodError || (cause && (cause as { name?: string }).name === 'ZodError')) {
    const issues = (cause as ZodError).issues;
    const first = issues[0];
    const field =
      first?.path.join('.') ||
      (first?.code === 'unrecognized_keys' ? (first as { keys?: string[] }).keys?.join(', ') : '') ||
      '(body)';
    const reason =
      first?.code === 'unrecognized_keys'
        ? `unknown field(s): ${(first as { keys?: string[] }).keys?.join(', ')}`
        : (first?.message ?? 'invalid');
    return {
      status: 400,
      error: {
        code: 'VALIDATION_ERROR',
        message: `${field}: ${reason}`,
        details: { field, reason, issues: issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
      },
    };
  }
  if (err instanceof TRPCError) {
    const map: Record<string, [number, string]> = {
      NOT_FOUND: [404, 'NOT_FOUND'],
      BAD_REQUEST: [400, 'VALIDATION_ERROR'],
      PARSE_ERROR: [400, 'VALIDATION_ERROR'],
      UNAUTHORIZED: [401, 'UNAUTHORIZED'],
      METHOD_NOT_SUPPORTED: [405, 'METHOD_NOT_ALLOWED'],
      PAYLOAD_TOO_LARGE: [413, 'PAYLOAD_TOO_LARGE'],
    };
    const m = map[err.code];
    if (m)
      return {
        status: m[0],
        error: {
          code: m[1],
          message: err.code === 'BAD_REQUEST' || err.code === 'PARSE_ERROR' ? 'malformed request' : err.message,
          details: {},
        },
      };
  }
  return { status: 500, error: { code: 'INTERNAL', message: 'internal error', details: {} } };
}
