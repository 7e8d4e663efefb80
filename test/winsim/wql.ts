import type { WmiInstance, WmiValue } from './wmi-classes.ts';

/** A parsed `SELECT <props|*> FROM <class> [WHERE <condition>]`. */
export interface WqlQuery {
  className: string;
  /** null for `*`. */
  properties: string[] | null;
  where: WqlCondition | null;
}

export type WqlLiteral = string | number | boolean | null;
export type WqlCondition =
  | { kind: 'and' | 'or'; left: WqlCondition; right: WqlCondition }
  | { kind: 'not'; inner: WqlCondition }
  | { kind: 'cmp'; property: string; op: '=' | '!=' | '<' | '>' | '<=' | '>=' | 'like'; value: WqlLiteral }
  | { kind: 'isnull'; property: string; negated: boolean };

export class WqlSyntaxError extends Error {}

const TOKEN =
  /\s*(?:(\d+(?:\.\d+)?)|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(<>|!=|<=|>=|=|<|>)|([(),*])|([A-Za-z_][A-Za-z0-9_]*))/y;

type Token = { type: 'num' | 'str' | 'op' | 'punct' | 'word'; text: string };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    if (/^\s*$/.test(text.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(text);
    if (!m) throw new WqlSyntaxError(`unexpected text at ${pos}`);
    pos = TOKEN.lastIndex;
    if (m[1] !== undefined) tokens.push({ type: 'num', text: m[1] });
    else if (m[2] !== undefined) tokens.push({ type: 'str', text: m[2].slice(1, -1).replace(/\\(.)/g, '$1') });
    else if (m[3] !== undefined) tokens.push({ type: 'op', text: m[3] === '<>' ? '!=' : m[3] });
    else if (m[4] !== undefined) tokens.push({ type: 'punct', text: m[4] });
    else tokens.push({ type: 'word', text: m[5]! });
  }
  return tokens;
}

export function parseWql(text: string): WqlQuery {
  const tokens = tokenize(text);
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  const isWord = (w: string): boolean => peek()?.type === 'word' && peek()!.text.toUpperCase() === w;
  const expectWord = (w: string): void => {
    if (!isWord(w)) throw new WqlSyntaxError(`expected ${w}`);
    i++;
  };
  const ident = (): string => {
    const t = tokens[i++];
    if (t?.type !== 'word') throw new WqlSyntaxError('expected a name');
    return t.text;
  };

  expectWord('SELECT');
  let properties: string[] | null = null;
  if (peek()?.text === '*') i++;
  else {
    properties = [ident()];
    while (peek()?.text === ',') {
      i++;
      properties.push(ident());
    }
  }
  expectWord('FROM');
  const className = ident();
  let where: WqlCondition | null = null;
  if (isWord('WHERE')) {
    i++;
    where = parseOr();
  }
  if (i !== tokens.length) throw new WqlSyntaxError('unexpected trailing text');
  return { className, properties, where };

  function parseOr(): WqlCondition {
    let left = parseAnd();
    while (isWord('OR')) {
      i++;
      left = { kind: 'or', left, right: parseAnd() };
    }
    return left;
  }
  function parseAnd(): WqlCondition {
    let left = parseNot();
    while (isWord('AND')) {
      i++;
      left = { kind: 'and', left, right: parseNot() };
    }
    return left;
  }
  function parseNot(): WqlCondition {
    if (isWord('NOT')) {
      i++;
      return { kind: 'not', inner: parseNot() };
    }
    if (peek()?.text === '(') {
      i++;
      const inner = parseOr();
      if (peek()?.text !== ')') throw new WqlSyntaxError('expected )');
      i++;
      return inner;
    }
    const property = ident();
    if (isWord('IS')) {
      i++;
      let negated = false;
      if (isWord('NOT')) {
        i++;
        negated = true;
      }
      expectWord('NULL');
      return { kind: 'isnull', property, negated };
    }
    let op: '=' | '!=' | '<' | '>' | '<=' | '>=' | 'like';
    if (isWord('LIKE')) {
      i++;
      op = 'like';
    } else {
      const t = tokens[i++];
      if (t?.type !== 'op') throw new WqlSyntaxError('expected an operator');
      op = t.text as typeof op;
    }
    return { kind: 'cmp', property, op, value: literal() };
  }
  function literal(): WqlLiteral {
    const t = tokens[i++];
    if (!t) throw new WqlSyntaxError('expected a value');
    if (t.type === 'num') return Number(t.text);
    if (t.type === 'str') return t.text;
    if (t.type === 'word') {
      const w = t.text.toUpperCase();
      if (w === 'TRUE') return true;
      if (w === 'FALSE') return false;
      if (w === 'NULL') return null;
    }
    throw new WqlSyntaxError('expected a value');
  }
}

/** Property names a query mentions, to check against the class (WMI refuses unknown ones). */
export function wqlPropertyNames(q: WqlQuery): string[] {
  const names = [...(q.properties ?? [])];
  const walk = (c: WqlCondition): void => {
    if (c.kind === 'and' || c.kind === 'or') {
      walk(c.left);
      walk(c.right);
    } else if (c.kind === 'not') walk(c.inner);
    else if (c.kind === 'cmp' || c.kind === 'isnull') names.push(c.property);
  };
  if (q.where) walk(q.where);
  return names;
}

/** `props` maps lower-case names to the class's spelling. */
export function matchesWql(cond: WqlCondition, row: WmiInstance, props: ReadonlyMap<string, string>): boolean {
  switch (cond.kind) {
    case 'and':
      return matchesWql(cond.left, row, props) && matchesWql(cond.right, row, props);
    case 'or':
      return matchesWql(cond.left, row, props) || matchesWql(cond.right, row, props);
    case 'not':
      return !matchesWql(cond.inner, row, props);
    case 'isnull': {
      const v = row[props.get(cond.property.toLowerCase()) ?? ''] ?? null;
      return (v === null) !== cond.negated;
    }
    case 'cmp':
      return compare(row[props.get(cond.property.toLowerCase()) ?? ''] ?? null, cond.op, cond.value);
  }
}

function compare(value: WmiValue, op: string, lit: WqlLiteral): boolean {
  if (value === null || lit === null) return false;
  if (typeof value === 'object' && !(typeof value === 'bigint')) {
    if (Array.isArray(value)) return value.some((v) => compare(v, op, lit));
    return compare((value as { datetime: string }).datetime, op, lit);
  }
  if (op === 'like') {
    const re = new RegExp(
      `^${String(lit)
        .replace(/[.+?^${}()|\\]/g, '\\$&')
        .replace(/%/g, '.*')
        .replace(/_/g, '.')}$`,
      'i',
    );
    return re.test(String(value));
  }
  let a: number | string;
  let b: number | string;
  if (typeof value === 'boolean' || typeof lit === 'boolean') {
    a = String(value).toLowerCase();
    b = String(lit).toLowerCase();
  } else if ((typeof value === 'number' || typeof value === 'bigint') && typeof lit === 'number') {
    a = Number(value);
    b = lit;
  } else {
    a = String(value).toLowerCase();
    b = String(lit).toLowerCase();
    if (/^-?\d+(\.\d+)?$/.test(a) && typeof lit === 'number') {
      a = Number(a);
      b = lit;
    }
  }
  switch (op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '>':
      return a > b;
    case '<=':
      return a <= b;
    case '>=':
      return a >= b;
    default:
      return false;
  }
}
