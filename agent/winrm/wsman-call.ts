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

/** One request/response: builds the envelope, POSTs it, checks RelatesTo, throws typed faults. */
export async function callWsman(ctx: WsmanContext, o: CallOptions): Promise<SoapResponse> {
  const opTimeout = o.operationTimeoutSec ?? ctx.operationTimeoutSec;
  const env = buildEnvelope({
    ...o,
    to: ctx.transport.url,
    maxEnvelopeSize: ctx.maxEnvelopeSize,
    operationTimeoutSec: opTimeout,
    locale: ctx.locale,
  });
  // The host may legitimately hold the request for OperationTimeout; wait a little longer than that.
  const readTimeoutMs = Math.max(ctx.readTimeoutMs, opTimeout * 1000 + 5000);
  const answer = await ctx.transport.send(env.xml, readTimeoutMs);
  return parseSoapResponse(answer.xml, env.messageId);
}
