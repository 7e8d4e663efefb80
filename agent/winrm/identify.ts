import { WinrmFaultError } from './errors.ts';
import { buildIdentifyEnvelope, parseSoapResponse } from './soap.ts';
import type { Transport } from './transport.ts';
import { child } from './xml.ts';

export interface IdentifyResult {
  protocolVersion: string;
  productVendor: string;
  productVersion: string;
  /** From `OS: 10.0.17763 SP: 0.0 Stack: 3.0`; '0.0.0' when asked anonymously. */
  osVersion: string | undefined;
  stackVersion: string | undefined;
}

export function parseIdentifyResponse(xml: string): IdentifyResult {
  const { body } = parseSoapResponse(xml);
  const r = child(body, 'IdentifyResponse');
  if (!r) throw new WinrmFaultError('the host did not answer Identify with an IdentifyResponse', 'bad_response');
  const productVersion = child(r, 'ProductVersion')?.text.trim() ?? '';
  return {
    protocolVersion: child(r, 'ProtocolVersion')?.text.trim() ?? '',
    productVendor: child(r, 'ProductVendor')?.text.trim() ?? '',
    productVersion,
    osVersion: /OS:\s*([0-9.]+)/.exec(productVersion)?.[1],
    stackVersion: /Stack:\s*([0-9.]+)/.exec(productVersion)?.[1],
  };
}

/** Identify; `anonymous` sends no credentials (discovery), so Windows zeroes the OS version. */
export async function identify(transport: Transport, anonymous: boolean): Promise<IdentifyResult> {
  const xml = buildIdentifyEnvelope();
  const answer = anonymous ? await transport.sendAnonymous(xml) : await transport.send(xml);
  return parseIdentifyResponse(answer.xml);
}
