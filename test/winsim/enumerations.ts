import { randomUUID } from 'node:crypto';
import type { SoapReply } from './shells.ts';
import { elementText, findElement, type WsmanRequest } from './soap-request.ts';
import { envelope, invalidEnumerationContextFault, type SoapFault } from './soap-response.ts';

// WS-Enumeration as a Windows host answers it, for any rendered item list (WMI instances, shells):
// Enumerate (inline first page with w:OptimizeEnumeration), Pull with the latest context, Release.

interface Enumeration {
  items: string[];
  pos: number;
  expiresAt: number;
}

/** Windows' EnumerationTimeoutms default. */
const ENUMERATION_TIMEOUT_MS = 240_000;
const MAX_OPEN_ENUMERATIONS = 64;
/** Room for the envelope around the items when cutting pages at MaxEnvelopeSize. */
const ENVELOPE_OVERHEAD = 2048;
const DEFAULT_MAX_ENVELOPE = 153600;
const NS_ENUM = 'http://schemas.xmlsoap.org/ws/2004/09/enumeration';

export class EnumerationStore {
  private readonly open = new Map<string, Enumeration>();

  constructor(private readonly machine: string) {}

  get size(): number {
    return this.open.size;
  }

  clear(): void {
    this.open.clear();
  }

  /** EnumerateResponse for these items: a context only, or (optimized) the first page inline. */
  enumerate(req: WsmanRequest, items: string[]): SoapReply {
    this.expire();
    if (findElement(req.body, 'OptimizeEnumeration') === undefined) {
      return reply(
        req,
        'EnumerateResponse',
        `<n:EnumerateResponse><n:EnumerationContext>${this.store(items, 0)}</n:EnumerationContext></n:EnumerateResponse>`,
      );
    }
    const page = takePage(items, 0, maxElements(req), req.maxEnvelopeSize);
    if (page.end >= items.length) {
      return reply(
        req,
        'EnumerateResponse',
        `<n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext><w:Items>${page.xml}</w:Items><w:EndOfSequence/></n:EnumerateResponse>`,
      );
    }
    return reply(
      req,
      'EnumerateResponse',
      `<n:EnumerateResponse><n:EnumerationContext>${this.store(items, page.end)}</n:EnumerationContext><w:Items>${page.xml}</w:Items></n:EnumerateResponse>`,
    );
  }

  /** The next page; each context is good for one Pull, which hands out a new one while items remain. */
  pull(req: WsmanRequest): SoapReply | SoapFault {
    this.expire();
    const context = elementText(req.body, 'EnumerationContext') ?? '';
    const e = this.open.get(context);
    if (!e) return invalidEnumerationContextFault(this.machine, req.messageId);
    this.open.delete(context);
    const page = takePage(e.items, e.pos, maxElements(req), req.maxEnvelopeSize);
    if (page.end >= e.items.length) {
      return reply(
        req,
        'PullResponse',
        `<n:PullResponse><n:Items>${page.xml}</n:Items><n:EndOfSequence/></n:PullResponse>`,
      );
    }
    return reply(
      req,
      'PullResponse',
      `<n:PullResponse><n:EnumerationContext>${this.store(e.items, page.end)}</n:EnumerationContext><n:Items>${page.xml}</n:Items></n:PullResponse>`,
    );
  }

  release(req: WsmanRequest): SoapReply {
    this.open.delete(elementText(req.body, 'EnumerationContext') ?? '');
    return { status: 200, body: envelope('enumeration', `${NS_ENUM}/ReleaseResponse`, req.messageId, '') };
  }

  private store(items: string[], pos: number): string {
    if (this.open.size >= MAX_OPEN_ENUMERATIONS) this.open.delete(this.open.keys().next().value!);
    const id = `uuid:${randomUUID().toUpperCase()}`;
    this.open.set(id, { items, pos, expiresAt: Date.now() + ENUMERATION_TIMEOUT_MS });
    return id;
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, e] of this.open) if (e.expiresAt < now) this.open.delete(id);
  }
}

function reply(req: WsmanRequest, action: 'EnumerateResponse' | 'PullResponse', body: string): SoapReply {
  return { status: 200, body: envelope('enumeration', `${NS_ENUM}/${action}`, req.messageId, body) };
}

/** WS-Enumeration: MaxElements defaults to 1 when the client does not say. */
function maxElements(req: WsmanRequest): number {
  const n = Number(elementText(req.body, 'MaxElements') ?? 1);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

/** Items from `start`, at most `max`, cut before the response would exceed MaxEnvelopeSize (at least one). */
function takePage(
  items: string[],
  start: number,
  max: number,
  maxEnvelope: number | undefined,
): { xml: string; end: number } {
  const budget = (maxEnvelope && maxEnvelope > 0 ? maxEnvelope : DEFAULT_MAX_ENVELOPE) - ENVELOPE_OVERHEAD;
  let xml = '';
  let size = 0;
  let end = start;
  while (end < items.length && end - start < max) {
    const item = items[end]!;
    const len = Buffer.byteLength(item);
    if (end > start && size + len > budget) break;
    xml += item;
    size += len;
    end++;
  }
  return { xml, end };
}
