import { z } from 'zod';

/**
 * Why a poll or discovery step failed. Stored beside monitors.last_error and shown by the API,
 * so a user can tell a dead link from a dead host from a bad password at a glance.
 */
export const FailureClass = z.enum([
  'agent_offline',
  'unreachable',
  'ping',
  'tls',
  'auth',
  'access_denied',
  'timeout',
  'quota',
  'winrm_fault',
  'plugin_error',
  'internal',
]);
export type FailureClass = z.infer<typeof FailureClass>;

/** A failure as data: what the agent reports instead of throwing. Messages never carry secrets. */
export const Failure = z
  .object({
    class: FailureClass,
    message: z.string().max(2000),
    code: z.string().max(100).optional(),
  })
  .strict();
export type Failure = z.infer<typeof Failure>;
