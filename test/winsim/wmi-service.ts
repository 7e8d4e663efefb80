import { randomUUID } from 'node:crypto';
import type { HostProfile } from './host-profile.ts';
import type { HostState } from './host-state.ts';
import type { SoapReply } from './shells.ts';
import { attribute, elementText, findElement, type WsmanRequest } from './soap-request.ts';
import {
  ACTIONS,
  envelope,
  invalidClassFault,
  invalidEnumerationContextFault,
  resourceNotFoundFault,
  RESOURCE_CIMV2,
  WQL_DIALECT,
  type SoapFault,
} from './soap-response.ts';
import { findWmiClass, type WmiClass, type WmiInstance } from './wmi-classes.ts';
import { renderFragment, renderTyped } from './wmi-render.ts';
import { matchesWql, parseWql, WqlSyntaxError, wqlPropertyNames, type WqlQuery } from './wql.ts';

export interface WmiHost {
  machine: string;
  profile: HostProfile;
  state(): HostState;
  configXml(): string;
}

interface Enumeration {
  items: string[];
  pos: number;
  expiresAt: number;
}

const parsedQueries = new Map<string, WqlQuery>();

/** Windows' EnumerationTimeoutms default. */
const ENUMERATION_TIMEOUT_MS = 240000;
const MAX_OPEN_ENUMERATIONS = 64;
/** Room for the envelope around the items when cutting pages at MaxEnvelopeSize. */
const ENVELOPE_OVERHEAD = 2048;
const DEFAULT_MAX_ENVELOPE = 153600;

/** One host's WMI over WS-Man: Enumerate (WQL or class URI), Pull, Release and Get. */
export class WmiService {
  private readonly open = new Map<string, Enumeration>();
  private readonly propIndex = new Map<string, Map<string, string>>();

  constructor(private readonly host: WmiHost) {}

  handle(req: WsmanRequest): SoapReply | SoapFault {
    switch (req.action) {
      case ACTIONS.enumerate:
        return this.enumerate(req);
      case ACTIONS.pull:
        return this.pull(req);
      case ACTIONS.release: {
        this.open.delete(elementText(req.body, 'EnumerationContext') ?? '');
        return { status: 200, body: envelope('enumeration', 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse', req.messageId, '') };
      }
      default:
        return this.get(req);
    }
  }

  private props(cls: WmiClass): Map<string, string> {
    let m = this.propIndex.get(cls.name);
    if (!m) {
      m = new Map(cls.properties.map((p) => [p.toLowerCase(), p]));
      this.propIndex.set(cls.name, m);
    }
    return m;
  }

  /** Rendered items for the request, or a fault. */
  private query(req: WsmanRequest): string[] | SoapFault {
    const { machine, profile } = this.host;
    const filter = findElement(req.body, 'Filter');
    const uri = req.resourceUri;
    if (!uri.toLowerCase().startsWith(RESOURCE_CIMV2.toLowerCase())) return resourceNotFoundFault(machine, profile.hostname, req.messageId);
    const uriClass = uri.slice(RESOURCE_CIMV2.length);
    if (!filter) {
      const cls = findWmiClass(uriClass);
      if (!cls) return resourceNotFoundFault(machine, profile.hostname, req.messageId);
      return cls.instances(profile, this.host.state()).map((row) => renderTyped(cls, row));
    }
    const dialect = attribute(filter.attrs, 'Dialect') ?? '';
    const wql = elementText(req.body, 'Filter') ?? '';
    if (dialect !== WQL_DIALECT) return invalidClassFault(machine, profile.hostname, wql, req.messageId, 'The filter dialect is not supported. ');
    let q = parsedQueries.get(wql);
    try {
      if (!q) {
        q = parseWql(wql);
        if (parsedQueries.size >= 512) parsedQueries.clear();
        parsedQueries.set(wql, q);
      }
    } catch (err) {
      if (err instanceof WqlSyntaxError) return invalidClassFault(machine, profile.hostname, wql, req.messageId, 'Invalid query ');
      throw err;
    }
    const cls = findWmiClass(q.className);
    if (!cls || (uriClass !== '*' && uriClass.toLowerCase() !== cls.name.toLowerCase())) {
      return invalidClassFault(machine, profile.hostname, wql, req.messageId);
    }
    const props = this.props(cls);
    if (wqlPropertyNames(q).some((p) => !props.has(p.toLowerCase()))) {
      return invalidClassFault(machine, profile.hostname, wql, req.messageId, 'Invalid query ');
    }
    let rows: WmiInstance[] = cls.instances(profile, this.host.state());
    if (q.where) rows = rows.filter((r) => matchesWql(q.where!, r, props));
    if (q.properties === null) return rows.map((row) => renderTyped(cls, row));
    const wanted = new Set(q.properties.map((p) => p.toLowerCase()));
    const selected = cls.properties.filter((p) => wanted.has(p.toLowerCase()));
    return rows.map((row) => renderFragment(cls, row, selected));
  }

  private enumerate(req: WsmanRequest): SoapReply | SoapFault {
    const items = this.query(req);
    if (!Array.isArray(items)) return items;
    this.expire();
    const optimize = findElement(req.body, 'OptimizeEnumeration') !== undefined;
    if (!optimize) {
      const id = this.store({ items, pos: 0, expiresAt: Date.now() + ENUMERATION_TIMEOUT_MS });
      return reply(req, 'EnumerateResponse', `<n:EnumerateResponse><n:EnumerationContext>${id}</n:EnumerationContext></n:EnumerateResponse>`);
    }
    const page = takePage(items, 0, maxElements(req), req.maxEnvelopeSize);
    if (page.end >= items.length) {
      return reply(req, 'EnumerateResponse', `<n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext><w:Items>${page.xml}</w:Items><w:EndOfSequence/></n:EnumerateResponse>`);
    }
    const id = this.store({ items, pos: page.end, expiresAt: Date.now() + ENUMERATION_TIMEOUT_MS });
    return reply(req, 'EnumerateResponse', `<n:EnumerateResponse><n:EnumerationContext>${id}</n:EnumerationContext><w:Items>${page.xml}</w:Items></n:EnumerateResponse>`);
  }

  private pull(req: WsmanRequest): SoapReply | SoapFault {
    this.expire();
    const context = elementText(req.body, 'EnumerationContext') ?? '';
    const e = this.open.get(context);
    if (!e) return invalidEnumerationContextFault(this.host.machine, req.messageId);
    this.open.delete(context);
    const page = takePage(e.items, e.pos, maxElements(req), req.maxEnvelopeSize);
    if (page.end >= e.items.length) {
      return reply(req, 'PullResponse', `<n:PullResponse><n:Items>${page.xml}</n:Items><n:EndOfSequence/></n:PullResponse>`);
    }
    const id = this.store({ items: e.items, pos: page.end, expiresAt: Date.now() + ENUMERATION_TIMEOUT_MS });
    return reply(req, 'PullResponse', `<n:PullResponse><n:EnumerationContext>${id}</n:EnumerationContext><n:Items>${page.xml}</n:Items></n:PullResponse>`);
  }

  private get(req: WsmanRequest): SoapReply | SoapFault {
    const { machine, profile } = this.host;
    if (req.action !== ACTIONS.get) return resourceNotFoundFault(machine, profile.hostname, req.messageId);
    if (req.resourceUri === 'http://schemas.microsoft.com/wbem/wsman/1/config') {
      return { status: 200, body: envelope('transfer', 'http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse', req.messageId, this.host.configXml()) };
    }
    const cls = req.resourceUri.toLowerCase().startsWith(RESOURCE_CIMV2.toLowerCase()) ? findWmiClass(req.resourceUri.slice(RESOURCE_CIMV2.length)) : undefined;
    if (!cls) return resourceNotFoundFault(machine, profile.hostname, req.messageId);
    const rows = cls.instances(profile, this.host.state());
    const row =
      req.selectors.size === 0
        ? rows.length === 1
          ? rows[0]
          : undefined
        : rows.find((r) => [...req.selectors].every(([k, v]) => String(r[this.props(cls).get(k.toLowerCase()) ?? ''] ?? '').toLowerCase() === v.toLowerCase()));
    if (!row) return resourceNotFoundFault(machine, profile.hostname, req.messageId);
    return { status: 200, body: envelope('transfer', 'http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse', req.messageId, renderTyped(cls, row)) };
  }

  private store(e: Enumeration): string {
    if (this.open.size >= MAX_OPEN_ENUMERATIONS) this.open.delete(this.open.keys().next().value!);
    const id = `uuid:${randomUUID().toUpperCase()}`;
    this.open.set(id, e);
    return id;
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, e] of this.open) if (e.expiresAt < now) this.open.delete(id);
  }

  get openEnumerations(): number {
    return this.open.size;
  }
}

function reply(req: WsmanRequest, action: 'EnumerateResponse' | 'PullResponse', body: string): SoapReply {
  return { status: 200, body: envelope('enumeration', `http://schemas.xmlsoap.org/ws/2004/09/enumeration/${action}`, req.messageId, body) };
}

/** WS-Enumeration: MaxElements defaults to 1 when the client does not say. */
function maxElements(req: WsmanRequest): number {
  const n = Number(elementText(req.body, 'MaxElements') ?? 1);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

/** Items from `start`, at most `max`, cut before the response would exceed MaxEnvelopeSize (at least one). */
function takePage(items: string[], start: number, max: number, maxEnvelope: number | undefined): { xml: string; end: number } {
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
