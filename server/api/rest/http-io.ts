import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError } from '../../errors.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** Reads a JSON body up to `limit` bytes; undefined when empty. Bad JSON and oversize are 400/413. */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new AppError('VALIDATION_ERROR', `request body larger than ${limit} bytes`, { field: '(body)' }));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (!text) return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new AppError('VALIDATION_ERROR', 'the request body is not valid JSON', { field: '(body)' }));
      }
    });
    req.on('error', reject);
  });
}
