/** Stable error codes: logs, events and tests match on these, never on message text. */
export const ErrorCodes = {
  PoolExhausted: 'BG_ERR_POOL_EXHAUSTED',
  NoPool: 'BG_ERR_NO_POOL',
  IpNotInPool: 'BG_ERR_IP_NOT_IN_POOL',
  IpInUse: 'BG_ERR_IP_IN_USE',
  SharingConflict: 'BG_ERR_SHARING_CONFLICT',
  BadAnnotation: 'BG_ERR_BAD_ANNOTATION',
  UnknownPool: 'BG_ERR_UNKNOWN_POOL',
  FamilyMismatch: 'BG_ERR_FAMILY_MISMATCH',
  BadPool: 'BG_ERR_BAD_POOL',
  BadConfig: 'BG_ERR_BAD_CONFIG',
  Kubernetes: 'BG_ERR_KUBERNETES',
  Bgp: 'BG_ERR_BGP',
} as const;

/** One of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * The one error base class. Thrown only at process edges (bad flags, unreachable config);
 * decision functions return typed results that carry the same codes instead of throwing.
 */
export class BaregateError extends Error {
  /** Stable code for matching. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BaregateError';
    this.code = code;
  }
}
