import { linuxCommand, windowsCommand } from '../../install/commands.ts';
import type { OperationDoc } from './openapi-docs.ts';

/**
 * Each REST operation's description and examples, keyed by operationId ("<router>-<procedure>").
 * Every example must validate against its operation's schema (test/integration/api/openapi-docs.test.ts).
 */

const T0 = '2026-11-20T08:12:03.000Z';
const T1 = '2026-11-23T10:04:55.000Z';
const RUN_ID = '0b5c2f4e-8d1a-4c3b-9f6e-2a7d1e5b8c90';

/** The 404 for a referenced row that does not exist, as services/common.ts requireRow words it. */
const refNotFound = (what: string, field: string, id: number) => ({
  404: { error: { code: 'NOT_FOUND', message: `${what} not found`, details: { [field]: id } } },
});

const agent = {
  id: 3,
  name: 'site-berlin',
  status: 'active',
  online: true,
  version: '0.1.0',
  hostname: 'edge-berlin-01',
  last_seen: T1,
  enrolled_at: T0,
  enrollment_expires_at: null,
  health: { spool_backlog: 0, jobs_in_flight: 2, job_lateness_ms: 14, errors: { timeout: 1 }, monitors_assigned: 48 },
  schedule: { revision_sent: 12, revision_acked: 12, monitors_assigned: 48, agent_revision: 12 },
  offline: null,
  spool_evicted: null,
  created_at: T0,
  updated_at: T1,
};
const pendingAgent = {
  ...agent,
  id: 4,
  name: 'site-hamburg',
  status: 'pending',
  online: false,
  version: null,
  hostname: null,
  last_seen: null,
  enrolled_at: null,
  enrollment_expires_at: '2026-11-24T10:04:55.000Z',
  health: null,
  schedule: { revision_sent: null, revision_acked: null, monitors_assigned: 0, agent_revision: null },
  created_at: T1,
};
const TOKEN = 'nmse_6f1c0a9d2b7e4c3a8f5d1e0b9c2a7d4f';
const installTarget = {
  baseUrl: 'https://nms.example.org:8443',
  pin: 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=',
  fingerprint: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
};
const withToken = {
  agent: pendingAgent,
  enrollment_token: TOKEN,
  install: {
    server_url: installTarget.baseUrl,
    linux: linuxCommand(installTarget, TOKEN),
    windows: windowsCommand(installTarget, TOKEN),
    notes: [],
  },
};

const credentialProfile = {
  id: 1,
  name: 'WindowsAdmin',
  type: 'winrm_ntlm',
  username: 'administrator',
  domain: 'CORP',
  port: 5986,
  use_ssl: true,
  tls_verify: 'pin',
  tls_fingerprint: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
  version: 1,
  created_at: T0,
  updated_at: T0,
};
const credentialCreate = {
  name: 'WindowsAdmin',
  type: 'winrm_ntlm',
  username: 'administrator',
  password: 'P@ssw0rd123',
  domain: 'CORP',
  port: 5986,
  use_ssl: true,
  tls_verify: 'pin',
  tls_fingerprint: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
};

const discoveryCreate = {
  name: 'Berlin office',
  agent_id: 3,
  credential_profile_id: 1,
  target: '10.20.0.0/24',
  port_scan: true,
  auto_provision: true,
  plugin_id: 1,
  polling_interval: 60,
};
const discoveryProfile = { id: 2, ...discoveryCreate, authenticate_unverified: false, created_at: T0, updated_at: T0 };

const device = {
  id: 42,
  agent_id: 3,
  ip: '10.20.0.15',
  port: 5986,
  use_ssl: true,
  hostname: 'FS01.corp.example',
  os: 'Microsoft Windows Server 2022 Standard',
  os_version: '10.0.20348',
  status: 'active',
  discovery_profile_id: 2,
  discovery_error: null,
  last_seen: T1,
  created_at: T0,
  updated_at: T1,
};

const run = {
  run_id: RUN_ID,
  discovery_profile_id: 2,
  agent_id: 3,
  status: 'completed',
  scanned: 254,
  total: 254,
  found: 1,
  devices: [device],
  provisioned_monitors: 1,
  error: null,
  started_at: T1,
  finished_at: '2026-11-23T10:05:41.000Z',
};
const runningRun = {
  ...run,
  status: 'running',
  scanned: 97,
  found: 0,
  devices: [],
  provisioned_monitors: 0,
  finished_at: null,
};

const plugin = {
  id: 1,
  name: 'Windows (WMI)',
  type: 'windows-wmi',
  description: 'CPU, memory, disk, network and process count over WinRM/WMI',
  config: {},
  builtin: true,
  created_at: T0,
  updated_at: T0,
};
const externalPlugin = {
  id: 5,
  name: 'SQL Server checks',
  type: 'external',
  description: 'Site-installed checks for the SQL Server hosts',
  config: { command: 'mssql-check', args: ['--quick'], timeout_ms: 20000 },
  builtin: false,
  created_at: T1,
  updated_at: T1,
};

const monitor = {
  id: 7,
  device_id: 42,
  credential_profile_id: 1,
  plugin_id: 1,
  polling_interval: 60,
  enabled: true,
  last_polled: T1,
  last_attempted: T1,
  last_error: null,
  last_error_class: null,
  last_error_at: null,
  consecutive_failures: 0,
  created_at: T0,
  updated_at: T1,
};

const point = {
  timestamp: '2026-11-23T10:04:00.000Z',
  cpu: { usage_percent: 23.5 },
  memory: { total_bytes: 17179869184, used_bytes: 9277129523, usage_percent: 54 },
  disk: { total_bytes: 536870912000, used_bytes: 214748364800, usage_percent: 40 },
  network: {
    bytes_sent_per_sec: 125000,
    bytes_recv_per_sec: 480000,
    utilization_percent: 0.5,
    packets_sent: 18234501,
    packets_recv: 40211873,
    errors: 0,
    dropped: 3,
  },
  process_count: 142,
  collection_ms: 850,
};
const extremes = (cpu: number, mem: number) => ({
  cpu: { usage_percent: cpu },
  memory: { used_bytes: Math.round((17179869184 * mem) / 100), usage_percent: mem },
  disk: { used_bytes: 214748364800, usage_percent: 40 },
  network: { bytes_sent_per_sec: 90000, bytes_recv_per_sec: 300000, utilization_percent: 0.3 },
});

const page = { limit: 100, offset: 0 };
const id = (n: number) => ({ id: n });

export const OPERATION_DOCS: Record<string, OperationDoc> = {
  'auth-login': {
    description:
      'Exchange the admin username and password (from the server configuration) for a JWT valid 24 hours. Send it as ' +
      '`Authorization: Bearer <token>` on every other call. Failed logins are throttled per address and username: ' +
      'after too many, 429 with `retry_after`.',
    request: { username: 'admin', password: 'correct horse battery staple' },
    response: {
      token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiIsImlhdCI6MTc5NTQyNjI5NX0.c2lnbmF0dXJl',
      expires_at: '2026-11-24T10:04:55.000Z',
    },
    errors: [401, 429],
    errorExamples: { 401: { error: { code: 'UNAUTHORIZED', message: 'invalid username or password', details: {} } } },
  },
  'auth-logout': {
    description:
      'Revoke every admin token issued until now, the one making this call included (a leaked token stops working). ' +
      'Log in again for a new one.',
    request: {},
  },
  'health-get': {
    description:
      'Liveness and readiness without a token: whether the database answers and which storage mode the metrics use ' +
      '(TimescaleDB hypertables or plain PostgreSQL). `status` is "degraded" while the database is unavailable.',
    response: { status: 'ok', database: 'ok', storage_mode: 'timescaledb', version: '0.1.0', time: T1 },
  },

  'credentialProfiles-list': {
    description:
      'Credential profiles, oldest first, paged with `limit` (1-1000, default 100) and `offset`. Passwords are never ' +
      'returned: they are stored encrypted and only ever sent sealed to the agent that polls with them.',
    params: page,
    response: [credentialProfile],
  },
  'credentialProfiles-create': {
    description:
      'Store how to log in to Windows hosts over WinRM: NTLM or Basic, the account, and how the HTTPS certificate is ' +
      'checked (`verify` against the system CAs, `pin` to a SHA-256 fingerprint, or `insecure`). The password is ' +
      'encrypted at rest and never shown again.',
    request: credentialCreate,
    response: credentialProfile,
    errors: [409],
  },
  'credentialProfiles-get': {
    description: 'One credential profile, without its password.',
    params: id(1),
    response: credentialProfile,
  },
  'credentialProfiles-update': {
    description:
      'Change any field; omitted fields keep their value. `version` goes up by one and the agents polling with the ' +
      'profile get the new credential.',
    params: id(1),
    request: { password: 'N3w-P@ssw0rd!', tls_verify: 'verify', tls_fingerprint: null },
    response: { ...credentialProfile, tls_verify: 'verify', tls_fingerprint: null, version: 2, updated_at: T1 },
    errors: [409],
  },
  'credentialProfiles-delete': {
    description:
      'Delete a credential profile. Refused with 400 (code IN_USE) while monitors or discovery profiles use it.',
    params: id(1),
    errorExamples: {
      400: {
        error: { code: 'IN_USE', message: 'Credential Profile in use by 3 monitor(s)', details: { monitors: 3 } },
      },
    },
  },

  'discoveryProfiles-list': {
    description: 'Discovery profiles, oldest first, paged with `limit` and `offset`.',
    params: page,
    response: [discoveryProfile],
  },
  'discoveryProfiles-create': {
    description:
      'Describe a network to sweep: which agent scans it, the target (addresses, ranges and CIDRs, comma separated), ' +
      'the credential profile to try, and whether hosts found become monitors at once (`auto_provision` with ' +
      '`plugin_id` and `polling_interval`). The credential goes only to hosts proven by verified or pinned HTTPS ' +
      'unless `authenticate_unverified` is true.',
    request: discoveryCreate,
    response: discoveryProfile,
    errors: [404, 409],
    errorExamples: refNotFound('Agent', 'agent_id', 3),
  },
  'discoveryProfiles-get': {
    description: 'One discovery profile.',
    params: id(2),
    response: discoveryProfile,
  },
  'discoveryProfiles-update': {
    description: 'Change any field; omitted fields keep their value. Runs already started are not affected.',
    params: id(2),
    request: { target: '10.20.0.0/23', auto_provision: false },
    response: { ...discoveryProfile, target: '10.20.0.0/23', auto_provision: false, updated_at: T1 },
    errors: [409],
  },
  'discoveryProfiles-delete': {
    description: 'Delete a discovery profile. The devices it found, and their monitors, remain.',
    params: id(2),
  },
  'discoveryProfiles-run': {
    description:
      "Sweep the profile's target now, on its agent. Answers 200 with the finished run (the devices found and how many " +
      'monitors were provisioned) when it completes within the wait, else 202 with the run so far: follow it with ' +
      'GET /discovery-runs/{run_id}. 503 while the agent is offline, 409 while a run of this profile is in progress.',
    params: id(2),
    response: run,
    alternative: { status: 202, description: 'Still running: poll GET /discovery-runs/{run_id}', example: runningRun },
    errors: [409, 503],
    errorExamples: {
      409: {
        error: {
          code: 'CONFLICT',
          message: 'a discovery run for this profile is already in progress',
          details: { run_id: RUN_ID },
        },
      },
    },
  },
  'discoveryProfiles-getRun': {
    description:
      'A discovery run: `scanned` of `total` addresses, the devices found so far, and its end (completed, failed with ' +
      '`error`, or cancelled). A run is kept for an hour after it ends.',
    params: { run_id: RUN_ID },
    response: run,
  },
  'discoveryProfiles-cancelRun': {
    description:
      'Stop a running discovery: the agent abandons the sweep; what was found so far stays. Cancelling a run that ' +
      'has ended returns it unchanged.',
    params: { run_id: RUN_ID },
    response: { ...runningRun, status: 'cancelled', finished_at: '2026-11-23T10:05:12.000Z' },
  },

  'devices-list': {
    description: 'Devices, oldest first, paged; filter by `agent_id` and `status`.',
    params: { ...page, agent_id: 3, status: 'active' },
    response: [device],
  },
  'devices-create': {
    description:
      'Add a Windows host by hand: the agent that reaches it, its IPv4 address and the WinRM port (5985 HTTP, 5986 ' +
      'HTTPS). Discovery adds devices too. 404 when the agent does not exist; 409 when the agent already has this IP.',
    request: { agent_id: 3, ip: '10.20.0.15', port: 5986, use_ssl: true, hostname: 'FS01.corp.example' },
    response: {
      ...device,
      os: null,
      os_version: null,
      status: 'discovered',
      discovery_profile_id: null,
      last_seen: null,
    },
    errors: [404, 409],
    errorExamples: refNotFound('Agent', 'agent_id', 3),
  },
  'devices-get': {
    description: 'One device with what discovery or polling learnt about it (hostname, OS) and when it was last seen.',
    params: id(42),
    response: device,
  },
  'devices-update': {
    description:
      'Change the hostname, port or TLS use, or the status: setting "active" again puts its monitors back in the ' +
      "agent's schedule and starts their failure counts again.",
    params: id(42),
    request: { status: 'active', port: 5986, use_ssl: true },
    response: device,
  },
  'devices-delete': {
    description: 'Delete a device. Refused with 400 (code IN_USE) while monitors use it: delete those first.',
    params: id(42),
    errorExamples: {
      400: { error: { code: 'IN_USE', message: 'Device in use by 1 monitor(s)', details: { monitors: 1 } } },
    },
  },

  'plugins-list': {
    description:
      'Plugins, oldest first, paged: the built-in WinRM collectors (read-only) and the external ones a site added.',
    params: page,
    response: [plugin, externalPlugin],
  },
  'plugins-create': {
    description:
      "Add a plugin. Type `external` runs a program the site installed in the agent's plugins folder " +
      '(`config.command` is its name, no path); the built-in types take no settings.',
    request: {
      name: 'SQL Server checks',
      type: 'external',
      description: 'Site-installed checks for the SQL Server hosts',
      config: { command: 'mssql-check', args: ['--quick'], timeout_ms: 20000 },
    },
    response: externalPlugin,
    errors: [409],
  },
  'plugins-get': {
    description: 'One plugin and its settings.',
    params: id(5),
    response: externalPlugin,
  },
  'plugins-update': {
    description: 'Change any field; omitted fields keep their value. Built-in plugins are read-only (400).',
    params: id(5),
    request: { config: { command: 'mssql-check', args: ['--full'], timeout_ms: 60000 } },
    response: { ...externalPlugin, config: { command: 'mssql-check', args: ['--full'], timeout_ms: 60000 } },
    errors: [409],
  },
  'plugins-delete': {
    description:
      'Delete a plugin. Refused with 400 for built-in plugins and (code IN_USE) while monitors or discovery ' +
      'profiles use it.',
    params: id(5),
    errorExamples: {
      400: { error: { code: 'IN_USE', message: 'Plugin in use by 2 monitor(s)', details: { monitors: 2 } } },
    },
  },

  'monitors-list': {
    description: 'Monitors, oldest first, paged; filter by `device_id`. Each shows its last poll and last failure.',
    params: { ...page, device_id: 42 },
    response: [monitor],
  },
  'monitors-create': {
    description:
      'Start polling a device: with which credential profile, which plugin and how often (10 s to 1 day, default ' +
      "60 s). The device's agent gets the new schedule at once.",
    request: { device_id: 42, credential_profile_id: 1, plugin_id: 1, polling_interval: 60, enabled: true },
    response: { ...monitor, last_polled: null, last_attempted: null, updated_at: T0 },
    errors: [404],
    errorExamples: refNotFound('Device', 'device_id', 42),
  },
  'monitors-get': {
    description:
      'One monitor: when it was last polled and attempted, the last error with its class (auth, unreachable, ' +
      'timeout …) and how many polls in a row failed.',
    params: id(7),
    response: monitor,
  },
  'monitors-update': {
    description: 'Change the credential profile, plugin, interval, or pause it (`enabled: false`).',
    params: id(7),
    request: { polling_interval: 300, enabled: true },
    response: { ...monitor, polling_interval: 300 },
  },
  'monitors-delete': {
    description: 'Delete a monitor and all its stored metrics; its agent stops polling it.',
    params: id(7),
  },
  'monitors-poll': {
    description:
      "Poll now, through the monitor's agent, and answer with the metrics or the classified failure (nothing is " +
      'stored). An offline agent is a failure of class `agent_offline`; too many polls at once on one agent is 429.',
    params: id(7),
    response: { monitor_id: 7, time: T1, ok: true, attempts: 1, metrics: point },
    errors: [429],
    errorExamples: {
      429: {
        error: {
          code: 'RATE_LIMITED',
          message:
            "too many on-demand polls in progress on this monitor's agent (limit 4); try again when one finishes",
          details: { agent_id: 3, limit: 4, retry_after: 1 },
        },
      },
    },
  },
  'monitors-latestMetrics': {
    description:
      'The latest stored sample, with usage percentages derived from used and total. 404 while the monitor has no ' +
      'metrics yet.',
    params: id(7),
    response: { monitor_id: 7, ...point },
  },
  'monitors-metricsHistory': {
    description:
      'Samples from `from` to `to` (default now). Without `bucket`, the raw samples; with one (30s, 5m, 1h, 1d …), ' +
      'one point per bucket with the averages (counters: their maximum), the sample count, min and max. On ' +
      'TimescaleDB long ranges are read from the 5-minute or 1-hour aggregates: `source` says which.',
    params: { id: 7, from: '2026-11-23T00:00:00Z', to: '2026-11-23T12:00:00Z', bucket: '1h' },
    response: {
      monitor_id: 7,
      from: '2026-11-23T00:00:00.000Z',
      to: '2026-11-23T12:00:00.000Z',
      bucket: '1h',
      source: '1h',
      data: [
        {
          ...point,
          timestamp: '2026-11-23T10:00:00.000Z',
          samples: 60,
          min: extremes(4.1, 51),
          max: extremes(71.8, 58),
        },
      ],
    },
  },

  'agents-list': {
    description:
      'Agents, oldest first, paged: online or not, what they last reported (spool backlog, lateness, failures by ' +
      'class), their schedule revision, and whether they run cut off from the server.',
    params: page,
    response: [agent],
  },
  'agents-create': {
    description:
      'Create an agent for a site. The answer holds the one-time enrollment token, shown only here, and `install`: ' +
      'one command for Linux and one for Windows (elevated PowerShell) that download the agent from this server, ' +
      'check it, enroll it with the token and start it. Use one before the token expires.',
    request: { name: 'site-hamburg' },
    response: withToken,
    errors: [409],
  },
  'agents-get': {
    description: 'One agent and its last health report.',
    params: id(3),
    response: agent,
  },
  'agents-update': {
    description:
      'Rename an agent, or disable it: its session is closed at once and it cannot connect again until enabled.',
    params: id(3),
    request: { name: 'site-berlin-2', disabled: false },
    response: { ...agent, name: 'site-berlin-2' },
    errors: [409],
  },
  'agents-delete': {
    description: 'Delete an agent. Refused with 400 (code IN_USE) while devices or discovery profiles use it.',
    params: id(3),
    errorExamples: {
      400: { error: { code: 'IN_USE', message: 'Agent in use by 12 device(s)', details: { devices: 12 } } },
    },
  },
  'agents-enroll': {
    description:
      "Called by `nmslite-agent enroll`, not by people: redeem the one-time token with the agent's Ed25519 signing " +
      'key and X25519 sealing key (PEM). 401 for an unknown, used or expired token, 403 for a disabled agent.',
    request: {
      token: TOKEN,
      sign_public_key:
        '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n',
      seal_public_key:
        '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEA3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=\n-----END PUBLIC KEY-----\n',
      hostname: 'edge-hamburg-01',
      version: '0.1.0',
    },
    response: { agent_id: 4, name: 'site-hamburg' },
    errors: [401, 403],
    errorExamples: {
      401: {
        error: {
          code: 'UNAUTHORIZED',
          message: 'the enrollment token is not valid (unknown, already used, or revoked)',
          details: {},
        },
      },
    },
  },
  'agents-reissueToken': {
    description:
      'Issue a new one-time enrollment token (the old one stops working), e.g. to re-enroll a reinstalled site ' +
      'machine. Shown only in this answer, with the install commands for it.',
    params: id(4),
    response: withToken,
    errors: [404],
  },

  'auditLog-list': {
    description:
      'Every change made through the API or by the server itself (health monitor, discovery), newest first. Filter ' +
      'by entity, actor and time range. Secrets show as "(changed)", never their value.',
    params: { ...page, entity_type: 'monitor', entity_id: 7, actor: 'admin', from: '2026-11-23T00:00:00Z' },
    response: [
      {
        id: 311,
        time: T1,
        actor: 'admin',
        source_address: '192.0.2.10',
        entity_type: 'monitor',
        entity_id: 7,
        action: 'update',
        changes: { polling_interval: { from: 60, to: 300 } },
      },
    ],
  },
};
