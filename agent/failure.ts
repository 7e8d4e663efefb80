import type { Failure, FailureClass } from '../shared/failures.ts';

/** Retrying these only locks accounts or repeats a certain answer. */
const NEVER_RETRY: ReadonlySet<FailureClass> = new Set(['auth', 'access_denied', 'tls']);

/**
 * An error that says what a caller can do about it: its failure class (shared/failures.ts) and
 * whether trying again may help. The WinRM client's errors, the collectors' and discovery's all
 * are one of these; messages are one line for a human, never an XML dump, a stack or a secret.
 */
export class ClassifiedError extends Error {
  readonly failureClass: FailureClass;
  /** A WSManFault code or a short machine code (`ECONNREFUSED`, `http_401`, `deadline`), when one exists. */
  readonly code: string | undefined;
  /** false stops the runner retrying (bad password, bad config); default: not auth, access_denied or tls. */
  readonly retryable: boolean;

  constructor(
    failureClass: FailureClass,
    message: string,
    o: { code?: string | undefined; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = new.target.name;
    this.failureClass = failureClass;
    this.code = o.code;
    this.retryable = o.retryable ?? !NEVER_RETRY.has(failureClass);
  }

  /** The failure as the agent reports it (bounded to the wire schema). */
  toFailure(): Failure {
    const f: Failure = { class: this.failureClass, message: this.message.slice(0, 2000) || this.failureClass };
    if (this.code !== undefined) f.code = this.code.slice(0, 100);
    return f;
  }
}

/**
 * Anything thrown, as a ClassifiedError: a ClassifiedError as it is, an abort as `timeout`, the
 * rest as `internal` without its text (which may hold anything).
 */
export function classify(err: unknown): ClassifiedError {
  if (err instanceof ClassifiedError) return err;
  if (err instanceof Error && err.name === 'AbortError')
    return new ClassifiedError('timeout', 'the job deadline passed during collection', { cause: err });
  return new ClassifiedError('internal', 'internal error in the collector', { cause: err });
}

/** The one converter to the wire `Failure`. */
export const toFailure = (err: unknown): Failure => classify(err).toFailure();
