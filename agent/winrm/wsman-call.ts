import { buildEnvelope, parseSoapResponse, type EnvelopeOptions, type SoapResponse } from './soap.ts';
import type { Transport } from './transport.ts';

/** What every WS-Man operation needs: the transport plus the per-client envelope defaults. */
export interface WsmanContext {
  transport: Transport;
  maxEnvelopeSize: number;
  operationTimeoutSec: number;
  locale: string;
  readTimeoutMs: number;
}

export type CallOptions = Omit<EnvelopeOptions, 'to' | 'maxEnvelopeSize' | 'operationTimeoutSec' | 'locale'> & {
  operationTimeoutSec?: number;
};

/** The HTTP read timeout must outlast OperationTimeout, or every slow Receive looks like a dead host. */
export function readTimeoutFor(operationTimeoutSec: number): number {
  return Math.round(operationTimeoutSec * 1000 + Math.min(5000, Math.max(1000, operationTimeoutSec * 250)));
}

/** One request/response: builds the envelope, POSTs it, checks RelatesTo, throws typed faults. */
export async function callWsman(ctx: WsmanContext, o: CallOptions): Promise<SoapResponse> {
  const opTimeout = o.operationTimeoutSec ?? ctx.operationTimeoutSec;
  // Destructured so the request text is not kept alive while the answer is awaited.
  const { xml, messageId } = buildEnvelope({
    ...o,
    to: ctx.transport.url,
    maxEnvelopeSize: ctx.maxEnvelopeSize,
    operationTimeoutSec: opTimeout,
    locale: ctx.locale,
  });
  // The host may legitimately hold the request for OperationTimeout; wait a little longer than that.
  const readTimeoutMs = Math.max(ctx.readTimeoutMs, readTimeoutFor(opTimeout));
  const answer = await ctx.transport.send(xml, readTimeoutMs);
  return parseSoapResponse(answer.xml, messageId);
}
