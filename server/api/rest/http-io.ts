import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError } from '../../errors.ts';
import { jsonDepthExceeds } from '../json-depth.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** Reads a request body as text, up to `limit` bytes; bytes past the limit are drained, never kept. */
export function readBodyText(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(new AppError('VALIDATION_ERROR', `request body larger than ${limit} bytes`, { field: '(body)' }));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

export const tooDeepError = (maxDepth: number): AppError =>
  new AppError('VALIDATION_ERROR', `the request body nests arrays/objects deeper than ${maxDepth} levels`, {
    field: '(body)',
    reason: `nested deeper than ${maxDepth}`,
  });

/**
 * Reads a JSON body up to `limit` bytes and `maxDepth` levels of nesting; undefined when empty.
 * Bad JSON, oversize and too deep are 400s (the depth is checked on the text, before JSON.parse).
 */
export async function readJsonBody(req: IncomingMessage, limit: number, maxDepth: number): Promise<unknown> {
  const text = (await readBodyText(req, limit)).trim();
  if (!text) return undefined;
  if (jsonDepthExceeds(text, maxDepth)) throw tooDeepError(maxDepth);
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError('VALIDATION_ERROR', 'the request body is not valid JSON', { field: '(body)' });
  }
}
