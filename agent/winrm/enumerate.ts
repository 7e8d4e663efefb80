import { WinrmFaultError, WinrmTimeoutError } from './errors.ts';
import { ACTION, OPERATION_TIMEOUT_CODE, RESOURCE, parseSoapResponse, type SoapResponse } from './soap.ts';
import { callWsman, type WsmanContext } from './wsman-call.ts';
import { readInstance, type WmiInstance } from './wmi-instance.ts';
import { child, escapeXml } from './xml.ts';

const WQL_DIALECT = 'http://schemas.microsoft.com/wbem/wsman/1/WQL';
/** Consecutive OperationTimeout faults on one Pull before the enumeration is given up. */
const MAX_PULL_TIMEOUTS = 3;

export interface EnumeratePage {
  items: WmiInstance[];
  /** Context for the next Pull; undefined when absent or empty. */
  context: string | undefined;
  endOfSequence: boolean;
}

/** Reads an EnumerateResponse or PullResponse body (optimized enumeration puts items inline). */
function readEnumeratePage(res: SoapResponse): EnumeratePage {
  const r = child(res.body, 'EnumerateResponse') ?? child(res.body, 'PullResponse');
  if (!r) throw new WinrmFaultError('the host answered an enumeration with an unexpected body', 'bad_response');
  const ctx = child(r, 'EnumerationContext')?.text.trim();
  const itemsEl = child(r, 'Items');
  return {
    items: itemsEl ? itemsEl.children.map(readInstance) : [],
    context: ctx ? ctx : undefined,
    endOfSequence: child(r, 'EndOfSequence') !== undefined,
  };
}

export function parseEnumerateResponse(xml: string): EnumeratePage {
  return readEnumeratePage(parseSoapResponse(xml));
}

export interface EnumerateOptions {
  /** `SELECT ... FROM Win32_X [WHERE ...]`; mutually exclusive with className. */
  wql?: string;
  /** Enumerate every instance of a class without a filter. */
  className?: string;
  /** WMI namespace, default root/cimv2. */
  namespace?: string;
  maxElements?: number;
  /** Stop after this many items and Release the enumeration. */
  limit?: number;
}

function wmiResource(namespace: string | undefined, tail: string): string {
  const ns = (namespace ?? 'root/cimv2').replace(/\\/g, '/').replace(/^\/+|\/+$/g, '');
  return ns === 'root/cimv2'
    ? `${RESOURCE.wmiCimv2}/${tail}`
    : `http://schemas.microsoft.com/wbem/wsman/1/wmi/${ns}/${tail}`;
}

/** Enumerate + Pull until EndOfSequence, always with the latest context; Release when abandoned. */
export async function enumerate(ctx: WsmanContext, o: EnumerateOptions): Promise<WmiInstance[]> {
  if (!o.wql === !o.className) throw new Error('enumerate needs exactly one of wql or className');
  const resourceUri = o.wql ? wmiResource(o.namespace, '*') : wmiResource(o.namespace, o.className!);
  const maxElements = o.maxElements ?? 32000;
  const filter = o.wql ? `<w:Filter Dialect="${WQL_DIALECT}">${escapeXml(o.wql)}</w:Filter>` : '';
  const first = await callWsman(ctx, {
    action: ACTION.enumerate,
    resourceUri,
    body: `<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>${maxElements}</w:MaxElements>${filter}</n:Enumerate>`,
  });
  let page = readEnumeratePage(first);
  const items = page.items;
  let context = page.context;
  while (!page.endOfSequence) {
    if (!context)
      throw new WinrmFaultError('the enumeration stopped without EndOfSequence or a context', 'bad_response');
    if (o.limit !== undefined && items.length >= o.limit) {
      await release(ctx, resourceUri, context);
      break;
    }
    const pull = {
      action: ACTION.pull,
      resourceUri,
      body: `<n:Pull><n:EnumerationContext>${escapeXml(context)}</n:EnumerationContext><n:MaxElements>${maxElements}</n:MaxElements></n:Pull>`,
    };
    for (let timedOut = 0; ; ) {
      try {
        page = readEnumeratePage(await callWsman(ctx, pull));
        break;
      } catch (err) {
        // w:TimedOut on a Pull: the host had nothing within OperationTimeout and the context is
        // still valid (DSP0226) — ask again, a bounded number of times.
        if (err instanceof WinrmTimeoutError && err.code === OPERATION_TIMEOUT_CODE && ++timedOut <= MAX_PULL_TIMEOUTS)
          continue;
        await release(ctx, resourceUri, context);
        throw err;
      }
    }
    items.push(...page.items);
    if (page.context) context = page.context;
    else if (!page.endOfSequence) context = undefined;
  }
  return o.limit !== undefined ? items.slice(0, o.limit) : items;
}

/** Best effort: an expired context is not worth an error on top of the one being reported. */
async function release(ctx: WsmanContext, resourceUri: string, context: string): Promise<void> {
  try {
    await callWsman(ctx, {
      action: ACTION.release,
      resourceUri,
      body: `<n:Release><n:EnumerationContext>${escapeXml(context)}</n:EnumerationContext></n:Release>`,
    });
  } catch {
    /* ignored */
  }
}
