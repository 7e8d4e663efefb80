import type { Failure, FailureClass } from '../../shared/failures.ts';

/**
 * Errors the WinRM client throws. Each one says what a caller can do about it through its
 * `failureClass`; messages are one line for a human, never an XML dump, a stack or a secret.
 */
export abstract class WinrmError extends Error {
  abstract readonly failureClass: FailureClass;
  /** WSManFault code or a short machine code (`ECONNREFUSED`, `http_401`), when one exists. */
  readonly code: string | undefined;

  constructor(message: string, code?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  toFailure(): Failure {
    const failure: Failure = { class: this.failureClass, message: this.message.slice(0, 2000) };
    if (this.code !== undefined) failure.code = this.code.slice(0, 100);
    return failure;
  }
}

/** TCP connect refused, host unreachable, DNS failure, connection dropped without an answer. */
export class WinrmConnectError extends WinrmError {
  readonly failureClass = 'unreachable' as const;
}

/** Certificate not trusted, fingerprint mismatch, handshake failure. */
export class WinrmTlsError extends WinrmError {
  readonly failureClass = 'tls' as const;
}

/** HTTP 401: the host rejected the credentials (or the scheme is not enabled). */
export class WinrmAuthError extends WinrmError {
  readonly failureClass = 'auth' as const;
}

/** Authenticated, but the account may not use WinRM/WMI (w:AccessDenied, WSManFault 5). */
export class WinrmAccessDeniedError extends WinrmError {
  readonly failureClass = 'access_denied' as const;
}

/** Connect timeout, read timeout, or a WS-Man operation that timed out. */
export class WinrmTimeoutError extends WinrmError {
  readonly failureClass = 'timeout' as const;
}

/** A per-user quota (shells 2150859173, concurrent operations 2150859174): back off, close shells. */
export class WinrmQuotaError extends WinrmError {
  readonly failureClass = 'quota' as const;
}

/** Unknown WMI class, bad WQL, bad resource URI: the request itself is wrong for this host. */
export class WinrmInvalidClassError extends WinrmError {
  readonly failureClass = 'winrm_fault' as const;
}

/** Any other SOAP fault, or a response that is not valid WS-Management. */
export class WinrmFaultError extends WinrmError {
  readonly failureClass = 'winrm_fault' as const;
  readonly subcode: string | undefined;
  constructor(message: string, code?: string, subcode?: string, options?: { cause?: unknown }) {
    super(message, code, options);
    this.subcode = subcode;
  }
}

/** Classifies anything thrown by the client; unknown errors become `internal` without their text. */
export function toFailure(err: unknown): Failure {
  if (err instanceof WinrmError) return err.toFailure();
  return { class: 'internal', message: 'internal error in the WinRM client' };
}
