import { isNil, type XmlElement } from './xml.ts';

/** A WMI property value as text: numbers stay strings so uint64 counters keep every digit. */
export type WmiValue = string | null | WmiValue[];

export interface WmiInstance {
  /** Element name: the class (`Win32_LogicalDisk`) for `SELECT *`, `XmlFragment` for property lists. */
  element: string;
  properties: Record<string, WmiValue>;
}

/** Reads one item of w:Items / a Get body into a plain record (the item shapes of the captures in test/fixtures/winrm). */
export function readInstance(el: XmlElement): WmiInstance {
  const properties: Record<string, WmiValue> = {};
  for (const prop of el.children) {
    const value = readValue(prop);
    const prev = properties[prop.name];
    if (prev === undefined) properties[prop.name] = value;
    else if (Array.isArray(prev) && repeated.has(prev)) prev.push(value);
    else {
      const arr: WmiValue[] = [prev, value];
      repeated.add(arr);
      properties[prop.name] = arr;
    }
  }
  return { element: el.name, properties };
}

// Arrays built from repeated elements (as opposed to a value that is itself an array).
const repeated = new WeakSet<WmiValue[]>();

function readValue(prop: XmlElement): WmiValue {
  if (isNil(prop)) return null;
  if (prop.children.length === 0) return prop.text;
  // cim:Datetime / cim:Interval wrappers and embedded objects: keep the text content.
  if (prop.children.length === 1) return readValue(prop.children[0]!);
  return prop.children.map(readValue);
}

export function wmiString(inst: WmiInstance | undefined, name: string): string | undefined {
  const v = inst?.properties[name];
  if (typeof v === 'string') return v.trim();
  return undefined;
}

/** Exact integer value, or undefined when absent, nil or not an integer. */
export function wmiBigInt(inst: WmiInstance | undefined, name: string): bigint | undefined {
  const s = wmiString(inst, name);
  if (s === undefined || !/^-?\d+$/.test(s)) return undefined;
  return BigInt(s);
}

/** Numeric value as a JS number (for values that fit a double, e.g. bytes, percentages). */
export function wmiNumber(inst: WmiInstance | undefined, name: string): number | undefined {
  const s = wmiString(inst, name);
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}
