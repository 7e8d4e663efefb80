import { randomUUID } from 'node:crypto';
import {
  WinrmAccessDeniedError,
  WinrmFaultError,
  WinrmInvalidClassError,
  WinrmQuotaError,
  WinrmTimeoutError,
  type WinrmError,
} from './errors.ts';
import { child, childrenNamed, escapeXml, findDeep, parseXml, path, XmlSyntaxError, type XmlElement } from './xml.ts';

export const NS = {
  s: 'http://www.w3.org/2003/05/soap-envelope',
  a: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  w: 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
  p: 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
  n: 'http://schemas.xmlsoap.org/ws/2004/09/enumeration',
  x: 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
  rsp: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
  wsmid: 'http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd',
} as const;

export const ACTION = {
  get: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Get',
  create: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Create',
  delete: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete',
  enumerate: 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate',
  pull: 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull',
  release: 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release',
  command: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command',
  send: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send',
  receive: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive',
  signal: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal',
} as const;

export const RESOURCE = {
  shellCmd: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd',
  wmiCimv2: 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2',
  config: 'http://schemas.microsoft.com/wbem/wsman/1/config',
} as const;

const ANONYMOUS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous';

export interface WsmanOption {
  name: string;
  value: string;
  mustComply?: boolean;
}

export interface EnvelopeOptions {
  action: string;
  resourceUri: string;
  /** Endpoint URL, e.g. `http://host:5985/wsman`. */
  to: string;
  /** Largest response we accept, bytes (MS-WSMV: MaxEnvelopeSize). */
  maxEnvelopeSize: number;
  /** How long the server may block before answering. */
  operationTimeoutSec: number;
  locale?: string;
  selectors?: Record<string, string>;
  options?: WsmanOption[];
  /** Inner XML of s:Body, already escaped; may use the prefixes s a w p n x rsp. */
  body: string;
  messageId?: string;
}

export interface BuiltEnvelope {
  xml: string;
  messageId: string;
}

export function formatDuration(seconds: number): string {
  return `PT${Number.isInteger(seconds) ? seconds : seconds.toFixed(3)}S`;
}

const ENVELOPE_OPEN =
  `<s:Envelope xmlns:s="${NS.s}" xmlns:a="${NS.a}" xmlns:w="${NS.w}" xmlns:p="${NS.p}"` +
  ` xmlns:n="${NS.n}" xmlns:x="${NS.x}" xmlns:rsp="${NS.rsp}">`;

/** Builds a SOAP 1.2 WS-Management request with the headers Windows expects (as in the captures in test/fixtures/winrm). */
export function buildEnvelope(o: EnvelopeOptions): BuiltEnvelope {
  const messageId = o.messageId ?? `uuid:${randomUUID().toUpperCase()}`;
  const locale = escapeXml(o.locale ?? 'en-US');
  let h =
    `<a:To>${escapeXml(o.to)}</a:To>` +
    `<a:ReplyTo><a:Address s:mustUnderstand="true">${ANONYMOUS}</a:Address></a:ReplyTo>` +
    `<a:Action s:mustUnderstand="true">${escapeXml(o.action)}</a:Action>` +
    `<a:MessageID>${messageId}</a:MessageID>` +
    `<w:ResourceURI s:mustUnderstand="true">${escapeXml(o.resourceUri)}</w:ResourceURI>` +
    `<w:MaxEnvelopeSize s:mustUnderstand="true">${Math.floor(o.maxEnvelopeSize)}</w:MaxEnvelopeSize>` +
    `<w:OperationTimeout>${formatDuration(o.operationTimeoutSec)}</w:OperationTimeout>` +
    `<w:Locale xml:lang="${locale}" s:mustUnderstand="false"/>` +
    `<p:DataLocale xml:lang="${locale}" s:mustUnderstand="false"/>`;
  if (o.selectors && Object.keys(o.selectors).length > 0) {
    h += '<w:SelectorSet>';
    for (const [name, value] of Object.entries(o.selectors)) {
      h += `<w:Selector Name="${escapeXml(name)}">${escapeXml(value)}</w:Selector>`;
    }
    h += '</w:SelectorSet>';
  }
  if (o.options && o.options.length > 0) {
    h += '<w:OptionSet>';
    for (const opt of o.options) {
      const mc = opt.mustComply ? ' MustComply="true"' : '';
      h += `<w:Option Name="${escapeXml(opt.name)}"${mc}>${escapeXml(opt.value)}</w:Option>`;
    }
    h += '</w:OptionSet>';
  }
  const xml = `${ENVELOPE_OPEN}<s:Header>${h}</s:Header><s:Body>${o.body}</s:Body></s:Envelope>`;
  return { xml, messageId };
}

/** Identify has no addressing headers at all (DSP0226 §11). */
export function buildIdentifyEnvelope(): string {
  return `<s:Envelope xmlns:s="${NS.s}" xmlns:wsmid="${NS.wsmid}"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>`;
}

export interface SoapResponse {
  root: XmlElement;
  header: XmlElement | undefined;
  body: XmlElement;
  action: string | undefined;
  relatesTo: string | undefined;
}

/** Parses a response envelope; throws the typed error for a SOAP fault or a foreign answer. */
export function parseSoapResponse(xml: string, expectedMessageId?: string): SoapResponse {
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (err) {
    const why = err instanceof XmlSyntaxError ? err.message : 'unreadable XML';
    throw new WinrmFaultError(`the host sent an invalid WS-Management response (${why})`, 'bad_response');
  }
  const body = child(root, 'Body');
  if (root.name !== 'Envelope' || !body) {
    throw new WinrmFaultError('the host sent a response that is not a SOAP envelope', 'bad_response');
  }
  const header = child(root, 'Header');
  const action = child(header, 'Action')?.text.trim();
  const relatesTo = child(header, 'RelatesTo')?.text.trim();
  const fault = child(body, 'Fault');
  if (fault) throw faultToError(fault);
  if (expectedMessageId && relatesTo && relatesTo.toLowerCase() !== expectedMessageId.toLowerCase()) {
    throw new WinrmFaultError('the response does not belong to the request (RelatesTo mismatch)', 'relates_to');
  }
  return { root, header, body, action, relatesTo };
}

export interface FaultInfo {
  code: string | undefined;
  subcode: string | undefined;
  reason: string;
  message: string | undefined;
  machine: string | undefined;
}

function squash(s: string, max = 400): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** Reads code, subcode and the most specific human message out of an s:Fault element. */
function readFault(fault: XmlElement): FaultInfo {
  const subValue = path(fault, 'Code', 'Subcode', 'Value')?.text.trim();
  const subcode = subValue ? subValue.slice(subValue.indexOf(':') + 1) : undefined;
  const reasonTexts = childrenNamed(child(fault, 'Reason'), 'Text');
  const reason = squash(reasonTexts[0]?.text ?? '');
  const detail = child(fault, 'Detail');
  // Provider faults nest a WSManFault inside the outer one; the innermost says what really failed.
  let wsf = findDeep(detail, 'WSManFault');
  let outerCode = wsf?.attrs.Code;
  let machine = wsf?.attrs.Machine;
  let inner: XmlElement | undefined;
  while (wsf) {
    inner = wsf;
    const nested = findDeep(child(wsf, 'Message'), 'WSManFault');
    wsf = nested;
  }
  let message: string | undefined;
  if (inner) {
    const msgEl = child(inner, 'Message');
    const direct = msgEl ? squash(msgEl.text) : '';
    if (direct) message = direct;
    machine = inner.attrs.Machine ?? machine;
  }
  if (!outerCode) {
    // MSFT_WmiError detail (quota faults) carries the code in error_Code instead.
    const wmiCode = findDeep(detail, 'error_Code')?.text.trim();
    if (wmiCode) outerCode = wmiCode;
    const wmiMsg = findDeep(detail, 'Message')?.text;
    if (!message && wmiMsg) message = squash(wmiMsg);
  }
  return { code: outerCode, subcode, reason, message, machine };
}

const QUOTA_CODES = new Set(['2150859173', '2150859174']);
const INVALID_CLASS_CODES = new Set(['2150858778', '2150858752', '2147749904', '2147749911', '2147749900']);
const INVALID_SUBCODES = new Set(['CannotProcessFilter', 'DestinationUnreachable', 'InvalidResourceURI']);
export const OPERATION_TIMEOUT_CODE = '2150858793';

export function faultToError(fault: XmlElement): WinrmError {
  const f = readFault(fault);
  const text = f.message && f.message !== f.reason ? f.message : f.reason || 'unspecified fault';
  const label = `WS-Management fault${f.code ? ` ${f.code}` : ''}${f.subcode ? ` (${f.subcode})` : ''}`;
  const msg = `${label}: ${text}`;
  if (f.code === OPERATION_TIMEOUT_CODE || f.subcode === 'TimedOut')
    return new WinrmTimeoutError(msg, f.code ?? 'TimedOut');
  if ((f.code && QUOTA_CODES.has(f.code)) || f.subcode === 'QuotaLimit') return new WinrmQuotaError(msg, f.code);
  if (f.subcode === 'AccessDenied' || f.code === '5') return new WinrmAccessDeniedError(msg, f.code ?? 'AccessDenied');
  if ((f.code && INVALID_CLASS_CODES.has(f.code)) || (f.subcode && INVALID_SUBCODES.has(f.subcode))) {
    return new WinrmInvalidClassError(msg, f.code);
  }
  return new WinrmFaultError(msg, f.code, f.subcode);
}
