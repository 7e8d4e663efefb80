import { EnumerationStore } from './enumerations.ts';
import type { HostProfile } from './host-profile.ts';
import type { HostState } from './host-state.ts';
import type { SoapReply } from './shells.ts';
import { attribute, elementText, findElement, type WsmanRequest } from './soap-request.ts';
import {
  ACTIONS,
  envelope,
  invalidClassFault,
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

const parsedQueries = new Map<string, WqlQuery>();

/** One host's WMI over WS-Man: Enumerate (WQL or class URI), Pull, Release and Get. */
export class WmiService {
  private readonly enumerations: EnumerationStore;
  private readonly propIndex = new Map<string, Map<string, string>>();

  constructor(private readonly host: WmiHost) {
    this.enumerations = new EnumerationStore(host.machine);
  }

  handle(req: WsmanRequest): SoapReply | SoapFault {
    switch (req.action) {
      case ACTIONS.enumerate:
        return this.enumerate(req);
      case ACTIONS.pull:
        return this.enumerations.pull(req);
      case ACTIONS.release:
        return this.enumerations.release(req);
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
    if (!uri.toLowerCase().startsWith(RESOURCE_CIMV2.toLowerCase()))
      return resourceNotFoundFault(machine, profile.hostname, req.messageId);
    const uriClass = uri.slice(RESOURCE_CIMV2.length);
    if (!filter) {
      const cls = findWmiClass(uriClass);
      if (!cls) return resourceNotFoundFault(machine, profile.hostname, req.messageId);
      return cls.instances(profile, this.host.state()).map((row) => renderTyped(cls, row));
    }
    const dialect = attribute(filter.attrs, 'Dialect') ?? '';
    const wql = elementText(req.body, 'Filter') ?? '';
    if (dialect !== WQL_DIALECT)
      return invalidClassFault(machine, profile.hostname, wql, req.messageId, 'The filter dialect is not supported. ');
    let q = parsedQueries.get(wql);
    try {
      if (!q) {
        q = parseWql(wql);
        if (parsedQueries.size >= 512) parsedQueries.clear();
        parsedQueries.set(wql, q);
      }
    } catch (err) {
      if (err instanceof WqlSyntaxError)
        return invalidClassFault(machine, profile.hostname, wql, req.messageId, 'Invalid query ');
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
    return Array.isArray(items) ? this.enumerations.enumerate(req, items) : items;
  }

  private get(req: WsmanRequest): SoapReply | SoapFault {
    const { machine, profile } = this.host;
    if (req.action !== ACTIONS.get) return resourceNotFoundFault(machine, profile.hostname, req.messageId);
    if (req.resourceUri === 'http://schemas.microsoft.com/wbem/wsman/1/config') {
      return {
        status: 200,
        body: envelope(
          'transfer',
          'http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse',
          req.messageId,
          this.host.configXml(),
        ),
      };
    }
    const cls = req.resourceUri.toLowerCase().startsWith(RESOURCE_CIMV2.toLowerCase())
      ? findWmiClass(req.resourceUri.slice(RESOURCE_CIMV2.length))
      : undefined;
    if (!cls) return resourceNotFoundFault(machine, profile.hostname, req.messageId);
    const rows = cls.instances(profile, this.host.state());
    const row =
      req.selectors.size === 0
        ? rows.length === 1
          ? rows[0]
          : undefined
        : rows.find((r) =>
            [...req.selectors].every(
              ([k, v]) => String(r[this.props(cls).get(k.toLowerCase()) ?? ''] ?? '').toLowerCase() === v.toLowerCase(),
            ),
          );
    if (!row) return resourceNotFoundFault(machine, profile.hostname, req.messageId);
    return {
      status: 200,
      body: envelope(
        'transfer',
        'http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse',
        req.messageId,
        renderTyped(cls, row),
      ),
    };
  }

  get openEnumerations(): number {
    return this.enumerations.size;
  }
}
