import { WinrmFaultError } from './errors.ts';
import { ACTION, RESOURCE, parseSoapResponse, type SoapResponse } from './soap.ts';
import { callWsman, type WsmanContext } from './wsman-call.ts';
import { readInstance, type WmiInstance } from './wmi-instance.ts';

export interface GetOptions {
  /** WMI class (`Win32_LogicalDisk`) under root/cimv2, or a full resource URI. */
  className?: string;
  resourceUri?: string;
  /** Key properties, e.g. `{ DeviceID: 'C:' }`. */
  selectors?: Record<string, string>;
}

function readGetResponse(res: SoapResponse): WmiInstance {
  const el = res.body.children[0];
  if (!el) throw new WinrmFaultError('the host answered Get with an empty body', 'bad_response');
  return readInstance(el);
}

export function parseGetResponse(xml: string): WmiInstance {
  return readGetResponse(parseSoapResponse(xml));
}

/** transfer/Get of one instance. */
export async function get(ctx: WsmanContext, o: GetOptions): Promise<WmiInstance> {
  const resourceUri = o.resourceUri ?? `${RESOURCE.wmiCimv2}/${o.className ?? ''}`;
  if (!o.resourceUri && !o.className) throw new Error('get needs className or resourceUri');
  const call: Parameters<typeof callWsman>[1] = { action: ACTION.get, resourceUri, body: '' };
  if (o.selectors) call.selectors = o.selectors;
  return readGetResponse(await callWsman(ctx, call));
}
