/** The one list of error codes the API returns, with their HTTP status. */
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  IN_USE: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

/** A failure the client may see; anything else becomes "internal error" with the cause logged. */
export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const notFound = (what: string, id: number | string) => new AppError('NOT_FOUND', `${what} not found`, { id });
