import { escapeXml, NS_W, RESOURCE_CIMV2 } from './soap-response.ts';
import type { WmiClass, WmiInstance, WmiValue } from './wmi-classes.ts';

const NS_XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const NS_CIM = 'http://schemas.dmtf.org/wbem/wscim/1/common';

interface ClassTags {
  open: string;
  close: string;
  typed: Map<string, { open: string; close: string; nil: string }>;
}
const tagCache = new Map<string, ClassTags>();

function tagsFor(cls: WmiClass): ClassTags {
  let tags = tagCache.get(cls.name);
  if (!tags) {
    tags = {
      open: `<p:${cls.name} xmlns:xsi="${NS_XSI}" xmlns:p="${RESOURCE_CIMV2}${cls.name}" xmlns:cim="${NS_CIM}" xsi:type="p:${cls.name}_Type">`,
      close: `</p:${cls.name}>`,
      typed: new Map(
        cls.properties.map((p) => [p, { open: `<p:${p}>`, close: `</p:${p}>`, nil: `<p:${p} xsi:nil="true"/>` }]),
      ),
    };
    tagCache.set(cls.name, tags);
  }
  return tags;
}

function scalar(v: Exclude<WmiValue, null | readonly string[]>): string {
  if (typeof v === 'string') return escapeXml(v);
  if (typeof v === 'object') return v.datetime;
  return String(v);
}

/** `select *` shape: typed p:<Class> element with every property, nil ones as xsi:nil. */
export function renderTyped(cls: WmiClass, row: WmiInstance): string {
  const tags = tagsFor(cls);
  let out = tags.open;
  for (const [prop, t] of tags.typed) {
    const v = row[prop] ?? null;
    if (v === null) out += t.nil;
    else if (Array.isArray(v)) for (const item of v) out += t.open + escapeXml(item) + t.close;
    else if (typeof v === 'object' && 'datetime' in v)
      out += `${t.open}<cim:Datetime>${v.datetime}</cim:Datetime>${t.close}`;
    else out += t.open + scalar(v as Exclude<WmiValue, null | readonly string[]>) + t.close;
  }
  return out + tags.close;
}

/** `select a,b` shape: w:XmlFragment with unprefixed children, in class order. */
export function renderFragment(cls: WmiClass, row: WmiInstance, selected: readonly string[]): string {
  let out = `<w:XmlFragment xmlns:xsi="${NS_XSI}" xmlns:w="${NS_W}">`;
  for (const prop of selected) {
    const v = row[prop] ?? null;
    if (v === null) out += `<${prop} xsi:nil="true"/>`;
    else if (Array.isArray(v)) for (const item of v) out += `<${prop}>${escapeXml(item)}</${prop}>`;
    else if (typeof v === 'object' && 'datetime' in v) out += `<${prop}><Datetime>${v.datetime}</Datetime></${prop}>`;
    else out += `<${prop}>${scalar(v as Exclude<WmiValue, null | readonly string[]>)}</${prop}>`;
  }
  return `${out}</w:XmlFragment>`;
}
