import type { z } from 'zod';
import { AgentMessage } from './agent-messages.ts';
import { ServerMessage } from './server-messages.ts';
import { MAX_MESSAGE_BYTES } from './version.ts';

export * from './version.ts';
export * from './jobs.ts';
export * from './agent-messages.ts';
export * from './server-messages.ts';

export type ParseResult<T> = { ok: true; message: T } | { ok: false; reason: string };

function parseWith<S extends z.ZodType>(
  schema: S,
  raw: string | Buffer | ArrayBuffer | Buffer[],
): ParseResult<z.infer<S>> {
  const text =
    typeof raw === 'string'
      ? raw
      : Array.isArray(raw)
        ? raw.map((b) => b.toString('utf8')).join('')
        : Buffer.from(raw as ArrayBuffer).toString('utf8');
  if (text.length > MAX_MESSAGE_BYTES) return { ok: false, reason: 'message too large' };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'message is not JSON' };
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    return {
      ok: false,
      reason:
        `invalid message: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'schema mismatch'}`.slice(
          0,
          200,
        ),
    };
  }
  return { ok: true, message: r.data };
}

export const parseAgentMessage = (raw: string | Buffer | ArrayBuffer | Buffer[]) => parseWith(AgentMessage, raw);
export const parseServerMessage = (raw: string | Buffer | ArrayBuffer | Buffer[]) => parseWith(ServerMessage, raw);
