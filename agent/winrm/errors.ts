import type { FailureClass } from '../../shared/failures.ts';
import { ClassifiedError } from '../failure.ts';

/**
 * Errors the WinRM client throws: ClassifiedErrors (agent/failure.ts) whose class says what a
 * caller can do about it. `code` is a WSManFault code or a short machine code (`ECONNREFUSED`, `http_401`).
 */
export abstract class WinrmError extends ClassifiedError {
  constructor(failureClass: FailureClass, message: string, code?: string, options?: { cause?: unknown }) {
    super(failureClass, message, { code, cause: options?.cause });
  }
}

/** A WinrmError subclass of one failure class, constructed as (message, code?, options?). */
function ofClass(failureClass: FailureClass) {
  return class extends WinrmError {
    constructor(message: string, code?: string, options?: { cause?: unknown }) {
      super(failureClass, message, code, options);
    }
  };
}

/** TCP connect refused, host unreachable, DNS failure, connection dropped without an answer. */
export class WinrmConnectError extends ofClass('unreachable') {}

/** Certificate not trusted, fingerprint mismatch, handshake failure. */
export class WinrmTlsError extends ofClass('tls') {}

/** HTTP 401: the host rejected the credentials (or the scheme is not enabled). */
export class WinrmAuthError extends ofClass('auth') {}

/** Authenticated, but the account may not use WinRM/WMI (w:AccessDenied, WSManFault 5). */
export class WinrmAccessDeniedError extends ofClass('access_denied') {}

/** Connect timeout, read timeout, or a WS-Man operation that timed out. */
export class WinrmTimeoutError extends ofClass('timeout') {}

/** A per-user quota (shells 2150859173, concurrent operations 2150859174): back off, close shells. */
export class WinrmQuotaError extends ofClass('quota') {}

/** Unknown WMI class, bad WQL, bad resource URI: the request itself is wrong for this host. */
export class WinrmInvalidClassError extends ofClass('winrm_fault') {}

/** Any other SOAP fault, or a response that is not valid WS-Management. */
export class WinrmFaultError extends WinrmError {
  readonly subcode: string | undefined;
  constructor(message: string, code?: string, subcode?: string, options?: { cause?: unknown }) {
    super('winrm_fault', message, code, options);
    this.subcode = subcode;
  }
}
