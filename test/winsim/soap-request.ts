// Prefix-agnostic extraction of the few things the simulator reads from a request. Clients pick their own
// prefixes (s:/env:, a:/wsa:), so elements are matched by local name; bodies are small, so regexes are cheap.

export interface WsmanRequest {
  action: string;
  messageId: string;
  resourceUri: string;
  /** Milliseconds, from w:OperationTimeout; undefined when absent; NaN when malformed. */
  operationTimeoutMs: number | undefined;
  maxEnvelopeSize: number | undefined;
  selectors: Map<string, string>;
  options: Map<string, string>;
  header: string;
  body: string;
  isIdentify: boolean;
}

const XML_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);/g, (_, e: string) =>
    e[0] === '#'
      ? String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10))
      : XML_ENTITIES[e]!,
  );
}

const elementRes = new Map<string, RegExp>();
function elementRe(local: string): RegExp {
  let re = elementRes.get(local);
  if (!re) {
    re = new RegExp(`<(?:[\\w.-]+:)?${local}(\\s[^>]*?)?(?:/>|>([\\s\\S]*?)</(?:[\\w.-]+:)?${local}\\s*>)`, 'g');
    elementRes.set(local, re);
  }
  return re;
}

export interface XmlHit {
  attrs: string;
  inner: string;
}

export function findElements(xml: string, local: string): XmlHit[] {
  const re = elementRe(local);
  re.lastIndex = 0;
  const hits: XmlHit[] = [];
  for (let m = re.exec(xml); m; m = re.exec(xml)) hits.push({ attrs: m[1] ?? '', inner: m[2] ?? '' });
  return hits;
}

export function findElement(xml: string, local: string): XmlHit | undefined {
  return findElements(xml, local)[0];
}

export function elementText(xml: string, local: string): string | undefined {
  const hit = findElement(xml, local);
  return hit === undefined ? undefined : unescapeXml(hit.inner).trim();
}

export function attribute(attrs: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)(?:[\\w.-]+:)?${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attrs);
  return m ? unescapeXml(m[1] ?? m[2] ?? '') : undefined;
}

/** ISO-8601 duration as WS-Man uses it (PT20S, PT60.000S, P0DT0H1M0S) → ms; NaN when invalid or negative. */
export function parseDurationMs(text: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text.trim());
  if (!m || text.trim() === 'P' || text.trim().endsWith('T')) return Number.NaN;
  return (((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60 + Number(m[4] ?? 0)) * 1000;
}

export function parseWsmanRequest(xml: string): WsmanRequest {
  const headerHit = findElement(xml, 'Header');
  const header = headerHit?.inner ?? '';
  const body = findElement(xml, 'Body')?.inner ?? '';
  const selectors = new Map<string, string>();
  for (const s of findElements(header, 'Selector'))
    selectors.set(attribute(s.attrs, 'Name') ?? '', unescapeXml(s.inner).trim());
  const options = new Map<string, string>();
  for (const o of findElements(header, 'Option'))
    options.set((attribute(o.attrs, 'Name') ?? '').toUpperCase(), unescapeXml(o.inner).trim());
  const timeout = elementText(header, 'OperationTimeout');
  const envelope = elementText(header, 'MaxEnvelopeSize');
  return {
    action: elementText(header, 'Action') ?? '',
    messageId: elementText(header, 'MessageID') ?? '',
    resourceUri: elementText(header, 'ResourceURI') ?? '',
    operationTimeoutMs: timeout === undefined ? undefined : parseDurationMs(timeout),
    maxEnvelopeSize: envelope === undefined ? undefined : Number(envelope),
    selectors,
    options,
    header,
    body,
    isIdentify: /<(?:[\w.-]+:)?Identify[\s/>]/.test(body),
  };
}
