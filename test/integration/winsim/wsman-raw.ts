// Hand-built WS-Man requests for black-box tests of the simulator (no client library involved).
import { randomUUID } from 'node:crypto';
import { type Agent, request } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function post(
  url: string,
  body: string,
  o: {
    headers?: Record<string, string>;
    agent?: Agent | HttpsAgent;
    method?: string;
    timeoutMs?: number;
    ca?: string;
  } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const fn = u.protocol === 'https:' ? httpsRequest : request;
    const req = fn(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: o.method ?? 'POST',
        agent: o.agent,
        headers: {
          'Content-Type': 'application/soap+xml;charset=UTF-8',
          'Content-Length': Buffer.byteLength(body),
          ...o.headers,
        },
        ...(u.protocol === 'https:' ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (o.timeoutMs) req.setTimeout(o.timeoutMs, () => req.destroy(new Error('read timeout')));
    req.end(body);
  });
}

export const basic = (user: string, password: string): Record<string, string> => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

const NS =
  'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ' +
  'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" ' +
  'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"';

export function envelope(o: {
  action: string;
  resourceUri: string;
  body: string;
  messageId?: string;
  timeout?: string;
  selectors?: Record<string, string>;
  options?: Record<string, string>;
}): string {
  const sel = o.selectors
    ? `<w:SelectorSet>${Object.entries(o.selectors)
        .map(([k, v]) => `<w:Selector Name="${k}">${v}</w:Selector>`)
        .join('')}</w:SelectorSet>`
    : '';
  const opt = o.options
    ? `<w:OptionSet>${Object.entries(o.options)
        .map(([k, v]) => `<w:Option Name="${k}">${v}</w:Option>`)
        .join('')}</w:OptionSet>`
    : '';
  return (
    `<s:Envelope ${NS}><s:Header><a:To>http://localhost/wsman</a:To><w:ResourceURI s:mustUnderstand="true">${o.resourceUri}</w:ResourceURI>` +
    `<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>` +
    `<a:Action s:mustUnderstand="true">${o.action}</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize>` +
    `<a:MessageID>${o.messageId ?? `uuid:${randomUUID()}`}</a:MessageID><w:OperationTimeout>${o.timeout ?? 'PT20S'}</w:OperationTimeout>${sel}${opt}</s:Header>` +
    `<s:Body>${o.body}</s:Body></s:Envelope>`
  );
}

const CIMV2 = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/';
export const SHELL_URI = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd';
const ENUM = 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/';
const SHELL = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/';
const TRANSFER = 'http://schemas.xmlsoap.org/ws/2004/09/transfer/';

export function enumerateXml(
  wql: string,
  o: { maxElements?: number; optimize?: boolean; messageId?: string } = {},
): string {
  const opt = o.optimize === false ? '' : '<w:OptimizeEnumeration/>';
  const max = o.maxElements === undefined ? '' : `<w:MaxElements>${o.maxElements}</w:MaxElements>`;
  return envelope({
    action: `${ENUM}Enumerate`,
    resourceUri: `${CIMV2}*`,
    ...(o.messageId ? { messageId: o.messageId } : {}),
    body: `<n:Enumerate>${opt}${max}<w:Filter Dialect="http://schemas.microsoft.com/wbem/wsman/1/WQL">${wql}</w:Filter></n:Enumerate>`,
  });
}

export function pullXml(context: string, maxElements = 32000): string {
  return envelope({
    action: `${ENUM}Pull`,
    resourceUri: `${CIMV2}*`,
    body: `<n:Pull><n:EnumerationContext>${context}</n:EnumerationContext><n:MaxElements>${maxElements}</n:MaxElements></n:Pull>`,
  });
}

export const identifyXml =
  '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>';

export const createShellXml = (codepage = 65001): string =>
  envelope({
    action: `${TRANSFER}Create`,
    resourceUri: SHELL_URI,
    options: { WINRS_NOPROFILE: 'TRUE', WINRS_CODEPAGE: String(codepage) },
    body: '<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>',
  });

export const commandXml = (shellId: string, command: string, args: string[] = []): string =>
  envelope({
    action: `${SHELL}Command`,
    resourceUri: SHELL_URI,
    selectors: { ShellId: shellId },
    options: { WINRS_CONSOLEMODE_STDIN: 'TRUE', WINRS_SKIP_CMD_SHELL: 'FALSE' },
    body: `<rsp:CommandLine><rsp:Command>${command}</rsp:Command>${args.map((a) => `<rsp:Arguments>${a}</rsp:Arguments>`).join('')}</rsp:CommandLine>`,
  });

export const receiveXml = (shellId: string, commandId: string, timeout = 'PT20S'): string =>
  envelope({
    action: `${SHELL}Receive`,
    resourceUri: SHELL_URI,
    timeout,
    selectors: { ShellId: shellId },
    body: `<rsp:Receive><rsp:DesiredStream CommandId="${commandId}">stdout stderr</rsp:DesiredStream></rsp:Receive>`,
  });

export const deleteShellXml = (shellId: string): string =>
  envelope({ action: `${TRANSFER}Delete`, resourceUri: SHELL_URI, selectors: { ShellId: shellId }, body: '' });

/** Text of the first element with this local name (any prefix). */
export function text(xml: string, local: string): string | undefined {
  const m = new RegExp(`<(?:[\\w-]+:)?${local}(?:\\s[^>]*)?>([^<]*)</(?:[\\w-]+:)?${local}>`).exec(xml);
  return m?.[1];
}

export function count(xml: string, pattern: RegExp): number {
  return (xml.match(new RegExp(pattern.source, 'g')) ?? []).length;
}

/** Concatenated, decoded stream chunks of a ReceiveResponse. */
export function streamText(xml: string, name: 'stdout' | 'stderr'): string {
  const re = new RegExp(`<rsp:Stream Name="${name}"[^>]*?(?:/>|>([^<]*)</rsp:Stream>)`, 'g');
  const parts: Buffer[] = [];
  for (let m = re.exec(xml); m; m = re.exec(xml)) parts.push(Buffer.from(m[1] ?? '', 'base64'));
  return Buffer.concat(parts).toString('utf8');
}
