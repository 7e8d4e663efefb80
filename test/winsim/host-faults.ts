import type { AuthMode } from './http-auth.ts';
import type { InjectedFault } from './soap-response.ts';

/** Per-host fault injection; every field can change at runtime through setFault. */
export interface HostFaults {
  /** The host's password no longer matches the configured one: every authentication gets 401. */
  wrongPassword: boolean;
  /** Authentication succeeds, then every operation answers the w:AccessDenied fault (HTTP 500). */
  accessDenied: boolean;
  /** Added before every HTTP response. */
  latencyMs: number;
  /** Requests are read and never answered. */
  timeout: boolean;
  /** Every authenticated SOAP operation answers HTTP 500 with this WSManFault (true = WMI generic failure). */
  http500: boolean | InjectedFault;
  /** The socket is destroyed as soon as a request's headers arrive. */
  dropConnections: boolean;
  /** AllowUnencrypted=false: a plain SOAP POST over HTTP answers 401 (NTLM must seal messages). */
  unencryptedRefused: boolean;
  /** The listener is closed (connection refused) until set back to false. */
  portClosed: boolean;
  /** Extra run time of every shell command, to exercise Receive's OperationTimeout loop. */
  commandDelayMs: number;
}

/** Windows defaults: over HTTP a Negotiate host refuses unencrypted messages (AllowUnencrypted=false). */
export function defaultFaults(tls: boolean, auth: AuthMode): HostFaults {
  return {
    wrongPassword: false,
    accessDenied: false,
    latencyMs: 0,
    timeout: false,
    http500: false,
    dropConnections: false,
    unencryptedRefused: !tls && auth !== 'basic',
    portClosed: false,
    commandDelayMs: 0,
  };
}
