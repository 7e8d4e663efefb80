/**
 * A small XML reader for WS-Management responses.
 *
 * Why not a general parser: WinRM answers are namespaced SOAP whose prefixes vary between
 * Windows versions (`p:`, `wsmv:`, none), and every value must stay text so uint64 counters
 * keep their precision. Elements and attributes are therefore keyed by LOCAL name; `xmlns`
 * declarations are dropped; text is entity-decoded and never converted. DTDs are refused
 * (no entity expansion attacks from a hostile host).
 */

export interface XmlElement {
  /** Local name, prefix stripped (`s:Envelope` → `Envelope`). */
  name: string;
  /** Attributes by local name (`xsi:nil` → `nil`); namespace declarations omitted. Read-only. */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated, decoded character data directly inside this element. */
  text: string;
}

export class XmlSyntaxError extends Error {
  constructor(message: string) {
    super(`malformed XML: ${message}`);
    this.name = 'XmlSyntaxError';
  }
}

const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(raw: string): string {
  if (raw.indexOf('&') < 0) return raw;
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (_m, ent: string) => {
    if (ent[0] === '#') {
      const code = ent[1] === 'x' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      if (!isXmlChar(code)) throw new XmlSyntaxError('bad character reference');
      return String.fromCodePoint(code);
    }
    const v = NAMED_ENTITIES[ent];
    if (v === undefined) throw new XmlSyntaxError(`unknown entity &${ent};`);
    return v;
  });
}

const NO_ATTRS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * Attributes of the tag between `from` and `to` (after its name), read in place: a response has
 * hundreds of elements, and copying each tag's attribute text only to scan it again is garbage.
 */
function parseAttrs(input: string, from: number, to: number): Record<string, string> {
  let attrs = NO_ATTRS;
  let i = from;
  for (;;) {
    while (i < to && isSpace(input.charCodeAt(i))) i++;
    if (i >= to) return attrs;
    const nameStart = i;
    while (i < to && input.charCodeAt(i) !== 0x3d /* = */ && !isSpace(input.charCodeAt(i))) i++;
    const nameEnd = i;
    if (nameEnd === nameStart) throw new XmlSyntaxError('attribute without a name');
    while (i < to && isSpace(input.charCodeAt(i))) i++;
    if (input.charCodeAt(i) !== 0x3d || i >= to)
      throw new XmlSyntaxError(`attribute ${input.slice(nameStart, nameEnd)} has no value`);
    i++;
    while (i < to && isSpace(input.charCodeAt(i))) i++;
    const quote = input.charCodeAt(i);
    if (quote !== 0x22 && quote !== 0x27) throw new XmlSyntaxError('attribute value is not quoted');
    const close = input.indexOf(quote === 0x22 ? '"' : "'", i + 1);
    if (close < 0 || close >= to) throw new XmlSyntaxError('unterminated attribute value');
    const isNamespaceDecl =
      input.startsWith('xmlns', nameStart) && (nameEnd - nameStart === 5 || input.charCodeAt(nameStart + 5) === 0x3a);
    if (!isNamespaceDecl) {
      const colon = input.indexOf(':', nameStart);
      if (attrs === NO_ATTRS) attrs = {};
      attrs[input.slice(colon >= 0 && colon < nameEnd ? colon + 1 : nameStart, nameEnd)] = decodeEntities(
        input.slice(i + 1, close),
      );
    }
    i = close + 1;
  }
}

/** Parses a whole document and returns its root element. */
export function parseXml(input: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  const n = input.length;
  if (input.charCodeAt(0) === 0xfeff) i = 1;
  while (i < n) {
    const lt = input.indexOf('<', i);
    const textEnd = lt < 0 ? n : lt;
    if (textEnd > i) {
      const top = stack[stack.length - 1];
      const raw = input.slice(i, textEnd);
      if (top) top.text += decodeEntities(raw);
      else if (raw.trim() !== '') throw new XmlSyntaxError('text outside the root element');
    }
    if (lt < 0) break;
    const next = input.charCodeAt(lt + 1);
    if (next === 0x21 /* ! */) {
      if (input.startsWith('<!--', lt)) {
        const end = input.indexOf('-->', lt + 4);
        if (end < 0) throw new XmlSyntaxError('unterminated comment');
        i = end + 3;
      } else if (input.startsWith('<![CDATA[', lt)) {
        const end = input.indexOf(']]>', lt + 9);
        if (end < 0) throw new XmlSyntaxError('unterminated CDATA');
        const top = stack[stack.length - 1];
        if (!top) throw new XmlSyntaxError('CDATA outside the root element');
        top.text += input.slice(lt + 9, end);
        i = end + 3;
      } else {
        throw new XmlSyntaxError('DTDs are not accepted');
      }
      continue;
    }
    if (next === 0x3f /* ? */) {
      const end = input.indexOf('?>', lt + 2);
      if (end < 0) throw new XmlSyntaxError('unterminated processing instruction');
      i = end + 2;
      continue;
    }
    const gt = findTagEnd(input, lt + 1);
    if (next === 0x2f /* / */) {
      // Compared in place: a response has as many closing tags as elements, none worth a copy.
      let end = gt;
      while (end > lt + 2 && isSpace(input.charCodeAt(end - 1))) end--;
      const colon = input.indexOf(':', lt + 2);
      const start = colon >= 0 && colon < end ? colon + 1 : lt + 2;
      const top = stack.pop();
      if (!top || end - start !== top.name.length || !input.startsWith(top.name, start)) {
        throw new XmlSyntaxError(`unexpected closing tag ${input.slice(lt + 2, gt).trim()}`);
      }
      i = gt + 1;
      continue;
    }
    const selfClosing = input.charCodeAt(gt - 1) === 0x2f;
    const contentEnd = selfClosing ? gt - 1 : gt;
    let nameEnd = lt + 1;
    while (nameEnd < contentEnd && !isSpace(input.charCodeAt(nameEnd))) nameEnd++;
    if (nameEnd === lt + 1) throw new XmlSyntaxError('empty tag name');
    const colon = input.indexOf(':', lt + 1);
    const el: XmlElement = {
      name: input.slice(colon >= 0 && colon < nameEnd ? colon + 1 : lt + 1, nameEnd),
      attrs: nameEnd < contentEnd ? parseAttrs(input, nameEnd, contentEnd) : NO_ATTRS,
      children: [],
      text: '',
    };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else if (root) throw new XmlSyntaxError('more than one root element');
    else root = el;
    if (!selfClosing) stack.push(el);
    i = gt + 1;
  }
  if (stack.length > 0) throw new XmlSyntaxError(`unclosed element ${stack[stack.length - 1]!.name}`);
  if (!root) throw new XmlSyntaxError('no root element');
  return root;
}

/**
 * Character references accepted: any code point but NUL and lone surrogates. XML 1.0 forbids the
 * other control characters too, but WMI data can hold them and a host that escapes one should not
 * lose the whole poll; NUL is refused because nothing downstream (PostgreSQL text) can keep it.
 */
function isXmlChar(c: number): boolean {
  return c > 0 && c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function findTagEnd(input: string, from: number): number {
  let quote = 0;
  for (let j = from; j < input.length; j++) {
    const c = input.charCodeAt(j);
    if (quote) {
      if (c === quote) quote = 0;
    } else if (c === 0x22 || c === 0x27) {
      quote = c;
    } else if (c === 0x3e) {
      return j;
    }
  }
  throw new XmlSyntaxError('unterminated tag');
}

/** First child with this local name. */
export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  if (!el) return undefined;
  for (const c of el.children) if (c.name === name) return c;
  return undefined;
}

export function childrenNamed(el: XmlElement | undefined, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.name === name) : [];
}

/** Follows a path of local names from `el`, first match at each step. */
export function path(el: XmlElement | undefined, ...names: string[]): XmlElement | undefined {
  let cur = el;
  for (const name of names) cur = child(cur, name);
  return cur;
}

/** Depth-first search for the first descendant (or self) with this local name. */
export function findDeep(el: XmlElement | undefined, name: string): XmlElement | undefined {
  if (!el) return undefined;
  if (el.name === name) return el;
  for (const c of el.children) {
    const hit = findDeep(c, name);
    if (hit) return hit;
  }
  return undefined;
}

export function isNil(el: XmlElement): boolean {
  return el.attrs.nil === 'true';
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === '"' ? '&quot;' : '&apos;',
  );
}
