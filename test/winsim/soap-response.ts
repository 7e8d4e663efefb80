import { randomUUID } from 'node:crypto';

// Envelopes are built as strings from fixed pieces, in the exact shapes of the captures in
// shared/fixtures/winrm (namespace sets, header order, trailing spaces in fault texts).

export const NS_S = 'http://www.w3.org/2003/05/soap-envelope';
export const NS_A = 'http://schemas.xmlsoap.org/ws/2004/08/addressing';
export const NS_N = 'http://schemas.xmlsoap.org/ws/2004/09/enumeration';
export const NS_W = 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd';
export const NS_P = 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd';
export const NS_X = 'http://schemas.xmlsoap.org/ws/2004/09/transfer';
export const NS_E = 'http://schemas.xmlsoap.org/ws/2004/08/eventing';
export const NS_RSP = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell';
export const NS_F = 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault';
export const ANONYMOUS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous';
export const RESOURCE_SHELL_CMD = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd';
export const RESOURCE_CIMV2 = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/';
export const WQL_DIALECT = 'http://schemas.microsoft.com/wbem/wsman/1/WQL';

export const ACTIONS = {
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

const NS_ENUM = `xml:lang="en-US" xmlns:s="${NS_S}" xmlns:a="${NS_A}" xmlns:n="${NS_N}" xmlns:w="${NS_W}"`;
const NS_SHELL = `xml:lang="en-US" xmlns:s="${NS_S}" xmlns:a="${NS_A}" xmlns:x="${NS_X}" xmlns:w="${NS_W}" xmlns:rsp="${NS_RSP}" xmlns:p="${NS_P}"`;
const NS_TRANSFER = `xml:lang="en-US" xmlns:s="${NS_S}" xmlns:a="${NS_A}" xmlns:x="${NS_X}" xmlns:w="${NS_W}" xmlns:p="${NS_P}"`;
const NS_FAULT = `xml:lang="en-US" xmlns:s="${NS_S}" xmlns:a="${NS_A}" xmlns:x="${NS_X}" xmlns:e="${NS_E}" xmlns:n="${NS_N}" xmlns:w="${NS_W}" xmlns:p="${NS_P}"`;

export type EnvelopeKind = 'enumeration' | 'shell' | 'transfer' | 'fault';
const NAMESPACES: Record<EnvelopeKind, string> = {
  enumeration: NS_ENUM,
  shell: NS_SHELL,
  transfer: NS_TRANSFER,
  fault: NS_FAULT,
};

export function newMessageId(): string {
  return `uuid:${randomUUID().toUpperCase()}`;
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

export function envelope(kind: EnvelopeKind, action: string, relatesTo: string | null, body: string): string {
  const relates = relatesTo ? `<a:RelatesTo>${escapeXml(relatesTo)}</a:RelatesTo>` : '';
  return `<s:Envelope ${NAMESPACES[kind]}><s:Header><a:Action>${action}</a:Action><a:MessageID>${newMessageId()}</a:MessageID><a:To>${ANONYMOUS}</a:To>${relates}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;
}

export interface SoapFault {
  /** HTTP status; WinRM sends every SOAP fault as 500. */
  status: 500;
  body: string;
  code: number;
}

interface FaultSpec {
  action?: string;
  code: 's:Sender' | 's:Receiver';
  subcode: string;
  reason: string;
  detail: string;
  wsmanCode: number;
  relatesTo: string | null;
}

const WSMAN_FAULT_ACTION = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault';

function fault(spec: FaultSpec): SoapFault {
  const body = `<s:Fault><s:Code><s:Value>${spec.code}</s:Value><s:Subcode><s:Value>${spec.subcode}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">${escapeXml(spec.reason)}</s:Text></s:Reason><s:Detail>${spec.detail}</s:Detail></s:Fault>`;
  return {
    status: 500,
    body: envelope('fault', spec.action ?? WSMAN_FAULT_ACTION, spec.relatesTo, body),
    code: spec.wsmanCode,
  };
}

function wsmanFault(code: number, machine: string, message: string): string {
  return `<f:WSManFault xmlns:f="${NS_F}" Code="${code}" Machine="${escapeXml(machine)}"><f:Message>${message}</f:Message></f:WSManFault>`;
}

export function operationTimeoutFault(machine: string, relatesTo: string | null): SoapFault {
  const text =
    'The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ';
  return fault({
    code: 's:Receiver',
    subcode: 'w:TimedOut',
    reason: text,
    detail: wsmanFault(2150858793, machine, text),
    wsmanCode: 2150858793,
    relatesTo,
  });
}

export function invalidClassFault(
  machine: string,
  hostname: string,
  wql: string,
  relatesTo: string | null,
  message = 'The specified class does not exist in the given namespace. ',
): SoapFault {
  const reason =
    'The data source could not process the filter. The filter might be missing or it might be invalid. Change the filter and try the request again.  ';
  const status = `<p:__ExtendedStatus xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:p="${RESOURCE_CIMV2}__ExtendedStatus" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="p:__ExtendedStatus_Type"><p:Description xsi:nil="true"/><p:Operation>ExecQuery</p:Operation><p:ParameterInfo>${escapeXml(wql)}</p:ParameterInfo><p:ProviderName>WinMgmt</p:ProviderName><p:StatusCode xsi:nil="true"/></p:__ExtendedStatus>`;
  const inner = `<f:ProviderFault path="%systemroot%\\system32\\WsmWmiPl.dll" provider="WMI Provider">${wsmanFault(2150858778, hostname, escapeXml(message))}<f:ExtendedError>${status}</f:ExtendedError></f:ProviderFault>`;
  return fault({
    action: 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault',
    code: 's:Sender',
    subcode: 'n:CannotProcessFilter',
    reason,
    detail: wsmanFault(2150858778, machine, inner),
    wsmanCode: 2150858778,
    relatesTo,
  });
}

export function invalidEnumerationContextFault(machine: string, relatesTo: string | null): SoapFault {
  const text =
    'The WS-Enumeration context in the enumeration is not valid. Enumeration may have been completed or canceled. You cannot use this enumeration context anymore. Start a new enumeration. ';
  return fault({
    action: 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault',
    code: 's:Receiver',
    subcode: 'n:InvalidEnumerationContext',
    reason: text,
    detail: wsmanFault(2150858779, machine, text),
    wsmanCode: 2150858779,
    relatesTo,
  });
}

export function invalidSelectorsFault(machine: string, relatesTo: string | null): SoapFault {
  const text =
    'The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ';
  const inner = `<f:ProviderFault provider="Shell provider" path="%systemroot%\\system32\\WsmSvc.dll">${wsmanFault(2150858843, machine, text)}</f:ProviderFault>`;
  return fault({
    code: 's:Sender',
    subcode: 'w:InvalidSelectors',
    reason: text,
    detail: `<w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors</w:FaultDetail>${wsmanFault(2150858843, machine, inner)}`,
    wsmanCode: 2150858843,
    relatesTo,
  });
}

export function resourceNotFoundFault(machine: string, hostname: string, relatesTo: string | null): SoapFault {
  const text =
    'The WS-Management service cannot process the request. The service cannot find the resource identified by the resource URI and selectors. ';
  const inner = `<f:ProviderFault provider="WMI Provider" path="%systemroot%\\system32\\WsmWmiPl.dll">${wsmanFault(2150858752, hostname, text)}</f:ProviderFault>`;
  return fault({
    code: 's:Sender',
    subcode: 'a:DestinationUnreachable',
    reason: text,
    detail: `<w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidResourceURI</w:FaultDetail>${wsmanFault(2150858752, machine, inner)}`,
    wsmanCode: 2150858752,
    relatesTo,
  });
}

export function invalidHeaderFault(machine: string, detailText: string, relatesTo: string | null): SoapFault {
  return fault({
    action: 'http://schemas.xmlsoap.org/ws/2004/08/addressing/fault',
    code: 's:Sender',
    subcode: 'a:InvalidMessageInformationHeader',
    reason:
      'The WS-Management service cannot process the request. The request contains one or more invalid SOAP headers. ',
    detail: wsmanFault(2150858767, machine, escapeXml(detailText)),
    wsmanCode: 2150858767,
    relatesTo,
  });
}

export function actionNotSupportedFault(machine: string, action: string, relatesTo: string | null): SoapFault {
  const text = `The WS-Management service cannot process the request because the request contained an unsupported action: ${action}. `;
  return fault({
    action: 'http://schemas.xmlsoap.org/ws/2004/08/addressing/fault',
    code: 's:Sender',
    subcode: 'a:ActionNotSupported',
    reason: 'The action is not supported by the service. ',
    detail: wsmanFault(2150858771, machine, escapeXml(text)),
    wsmanCode: 2150858771,
    relatesTo,
  });
}

/** Shape of fixture fault_quota_max_shells_2150859173_response.xml (MSFT_WmiError detail, no RelatesTo). */
export function shellQuotaFault(maxShells: number): SoapFault {
  const msg = `The WS-Management service cannot process the request. This user is allowed a maximum number of ${maxShells} concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. `;
  const t = (name: string, type: string, value: string | null): string =>
    value === null
      ? `<p:${name} xsi:nil="true" xsi:type="cim:${type}"/>`
      : `<p:${name} xsi:type="cim:${type}">${escapeXml(value)}</p:${name}>`;
  const detail =
    `<p:MSFT_WmiError b:IsCIM_Error="true" xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError" xsi:type="p:MSFT_WmiError_Type" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
    t('CIMStatusCode', 'cimUnsignedInt', '27') +
    t('CIMStatusCodeDescription', 'cimString', null) +
    t('ErrorSource', 'cimString', null) +
    t('ErrorSourceFormat', 'cimUnsignedShort', '0') +
    t('ErrorType', 'cimUnsignedShort', '0') +
    t('Message', 'cimString', msg) +
    t('MessageID', 'cimString', 'HRESULT 0x803381a5') +
    t('OtherErrorSourceFormat', 'cimString', null) +
    t('OtherErrorType', 'cimString', null) +
    t('OwningEntity', 'cimString', null) +
    t('PerceivedSeverity', 'cimUnsignedShort', '0') +
    t('ProbableCause', 'cimUnsignedShort', '0') +
    t('ProbableCauseDescription', 'cimString', null) +
    t('error_Category', 'cimUnsignedInt', '30') +
    t('error_Code', 'cimUnsignedInt', '2150859173') +
    t('error_Type', 'cimString', 'HRESULT') +
    t('error_WindowsErrorMessage', 'cimString', msg) +
    '</p:MSFT_WmiError>';
  return fault({
    code: 's:Sender',
    subcode: 'w:QuotaLimit',
    reason:
      'The WS-Management service cannot process the request. The maximum number of concurrent shells for this user has been exceeded. Close existing shells or raise the quota for this user. ',
    detail,
    wsmanCode: 2150859173,
    relatesTo: null,
  });
}

export function accessDeniedFault(machine: string, relatesTo: string | null): SoapFault {
  const text = 'Access is denied. ';
  return fault({
    code: 's:Sender',
    subcode: 'w:AccessDenied',
    reason: text,
    detail: wsmanFault(5, machine, text),
    wsmanCode: 5,
    relatesTo,
  });
}

export interface InjectedFault {
  code: number;
  subcode: string;
  message: string;
}

export const DEFAULT_INJECTED_FAULT: InjectedFault = {
  code: 2147749889,
  subcode: 'w:InternalError',
  message: 'Generic failure ',
};

export function injectedFault(machine: string, spec: InjectedFault, relatesTo: string | null): SoapFault {
  return fault({
    code: spec.subcode === 'w:InternalError' ? 's:Receiver' : 's:Sender',
    subcode: spec.subcode,
    reason: spec.message,
    detail: wsmanFault(spec.code, machine, escapeXml(spec.message)),
    wsmanCode: spec.code,
    relatesTo,
  });
}

export function commandNotFoundFault(machine: string, relatesTo: string | null): SoapFault {
  const text = 'The system cannot find the file specified. ';
  const inner = `<f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\\system32\\winrscmd.dll">${text}</f:ProviderFault>`;
  return fault({
    code: 's:Receiver',
    subcode: 'w:InternalError',
    reason: text,
    detail: wsmanFault(2147942402, machine, inner),
    wsmanCode: 2147942402,
    relatesTo,
  });
}

export function invalidParameterFault(machine: string, relatesTo: string | null): SoapFault {
  const text = 'The parameter is incorrect. ';
  const inner = `<f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\\system32\\winrscmd.dll">${text}</f:ProviderFault>`;
  return fault({
    code: 's:Sender',
    subcode: 'w:InvalidParameter',
    reason: text,
    detail: `<w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue</w:FaultDetail>${wsmanFault(87, machine, inner)}`,
    wsmanCode: 87,
    relatesTo,
  });
}

export function identifyResponse(productVersion: string, authenticated: boolean): string {
  const profiles = authenticated
    ? '<wsmid:SecurityProfiles><wsmid:SecurityProfileName>http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos</wsmid:SecurityProfileName></wsmid:SecurityProfiles>'
    : '';
  return `<s:Envelope xmlns:s="${NS_S}"><s:Header/><s:Body><wsmid:IdentifyResponse xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion><wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor><wsmid:ProductVersion>${productVersion}</wsmid:ProductVersion>${profiles}</wsmid:IdentifyResponse></s:Body></s:Envelope>`;
}
