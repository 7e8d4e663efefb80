// A tiny namespace-aware XML reader for comparing SOAP messages with the Windows captures in
// ../shared/fixtures/winrm. agent/winrm/xml.ts deliberately drops namespaces; these tests need them,
// because Windows dispatches on {namespace}local names, never on prefixes.

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';

export interface NsAttr {
  ns: string;
  local: string;
  value: string;
}

export interface NsElement {
  ns: string;
  local: string;
  attrs: NsAttr[];
  children: NsElement[];
  /** Decoded character data directly inside the element. */
  text: string;
  /** Prefix → namespace in scope here, for QName-valued text such as s:Subcode/s:Value. */
  scope: ReadonlyMap<string, string>;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (m, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    const v = ENTITIES[e];
    if (v === undefined) throw new Error(`unknown entity ${m}`);
    return v;
  });
}

const TOKEN =
  /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[([\s\S]*?)\]\]>|<(\/?)([^\s/>]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/g;
const ATTR = /([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

function split(qname: string): [string, string] {
  const i = qname.indexOf(':');
  return i < 0 ? ['', qname] : [qname.slice(0, i), qname.slice(i + 1)];
}

/** Parses a document; throws on mismatched tags, unbound prefixes or stray markup. */
export function parseNsXml(xml: string): NsElement {
  const stack: { el: NsElement; qname: string; scope: Map<string, string> }[] = [];
  let root: NsElement | undefined;
  let consumed = 0;
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(xml); m; m = TOKEN.exec(xml)) {
    if (m.index !== consumed) throw new Error(`unparsed markup at ${consumed}: ${xml.slice(consumed, consumed + 40)}`);
    consumed = TOKEN.lastIndex;
    const top = stack[stack.length - 1];
    if (m[6] !== undefined || m[1] !== undefined) {
      const text = m[1] ?? decode(m[6]!);
      if (top) top.el.text += text;
      else if (text.trim() !== '') throw new Error('text outside the root element');
      continue;
    }
    const qname = m[3];
    if (qname === undefined) continue; // comment or processing instruction
    if (m[2] === '/') {
      const open = stack.pop();
      if (!open || open.qname !== qname) throw new Error(`unexpected </${qname}>`);
      continue;
    }
    let scope: Map<string, string> = top?.scope ?? new Map([['xml', XML_NS]]);
    const rawAttrs: [string, string][] = [];
    ATTR.lastIndex = 0;
    for (let a = ATTR.exec(m[4] ?? ''); a; a = ATTR.exec(m[4] ?? '')) {
      const name = a[1]!;
      const value = decode(a[2] ?? a[3] ?? '');
      if (name === 'xmlns' || name.startsWith('xmlns:')) {
        if (scope === top?.scope) scope = new Map(scope);
        scope.set(name === 'xmlns' ? '' : name.slice(6), value);
      } else rawAttrs.push([name, value]);
    }
    const resolve = (prefix: string, isAttr: boolean): string => {
      if (prefix === '' && isAttr) return '';
      const ns = scope.get(prefix);
      if (ns === undefined) {
        if (prefix === '') return '';
        throw new Error(`unbound prefix ${prefix}: in <${qname}>`);
      }
      return ns;
    };
    const [prefix, local] = split(qname);
    const el: NsElement = {
      ns: resolve(prefix, false),
      local,
      attrs: rawAttrs.map(([name, value]) => {
        const [p, l] = split(name);
        return { ns: resolve(p, true), local: l, value };
      }),
      children: [],
      text: '',
      scope,
    };
    if (top) top.el.children.push(el);
    else if (root) throw new Error('more than one root element');
    else root = el;
    if (m[5] !== '/') stack.push({ el, qname, scope });
  }
  if (consumed !== xml.length) throw new Error(`unparsed markup at ${consumed}`);
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1]!.qname}>`);
  if (!root) throw new Error('no root element');
  return root;
}

/** `{namespace}local`, the name Windows dispatches on. */
export const qname = (el: { ns: string; local: string }): string => `{${el.ns}}${el.local}`;

export function nsChild(el: NsElement | undefined, ns: string, local: string): NsElement | undefined {
  return el?.children.find((c) => c.ns === ns && c.local === local);
}

export function nsChildren(el: NsElement | undefined, ns: string, local: string): NsElement[] {
  return el ? el.children.filter((c) => c.ns === ns && c.local === local) : [];
}

/** Attribute value by namespace ('' for unprefixed) and local name. */
export function nsAttr(el: NsElement | undefined, local: string, ns = ''): string | undefined {
  return el?.attrs.find((a) => a.ns === ns && a.local === local)?.value;
}

/** Depth-first search for descendants (or self) with this qualified name. */
export function nsFindAll(el: NsElement | undefined, ns: string, local: string, out: NsElement[] = []): NsElement[] {
  if (!el) return out;
  if (el.ns === ns && el.local === local) out.push(el);
  for (const c of el.children) nsFindAll(c, ns, local, out);
  return out;
}

/** A QName written as text (`w:TimedOut`) resolved against the element's scope: `{namespace}local`. */
export function resolveQName(el: NsElement, text: string): string {
  const [prefix, local] = split(text.trim());
  return `{${el.scope.get(prefix) ?? `unbound:${prefix}`}}${local}`;
}

/** All text under an element, in document order. */
export function nsDeepText(el: NsElement): string {
  return el.text + el.children.map(nsDeepText).join('');
}
