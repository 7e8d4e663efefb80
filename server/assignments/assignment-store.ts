import type pg from 'pg';
import type { Assignment } from '../../shared/protocol/index.ts';

/** Device statuses whose monitors are polled; inactive and unreachable devices are not. */
export const SCHEDULABLE_DEVICE_STATUSES = ['active', 'discovered'] as const;

/** Some of an agent's monitors, named by id or by what they use: what one change re-reads. */
export interface Subset {
  monitors: ReadonlySet<number>;
  devices: ReadonlySet<number>;
  credentials: ReadonlySet<number>;
  plugins: ReadonlySet<number>;
}

/** True when `a` is in `part` (by its own id, its device, its credential profile or its plugin). */
export const inSubset = (part: Subset, a: AssignedMonitor): boolean =>
  part.monitors.has(a.assignment.monitor_id) ||
  part.devices.has(a.device_id) ||
  part.credentials.has(a.credential_profile_id) ||
  part.plugins.has(a.plugin_id);

/** One assigned monitor with what the assignment service needs to route changes to it. */
export interface AssignedMonitor {
  agent_id: number;
  device_id: number;
  plugin_id: number;
  credential_profile_id: number;
  assignment: Assignment;
  /** The assignment's JSON: compared to tell a changed assignment from an unchanged one, and measured for message size. */
  json: string;
}

const SELECT = `
  SELECT m.id, m.device_id, d.agent_id, d.ip, d.port, d.use_ssl, m.credential_profile_id, c.version AS credential_version,
         m.plugin_id, p.type AS plugin_type, p.config AS plugin_config, m.polling_interval
    FROM monitors m
    JOIN devices d ON d.id = m.device_id
    JOIN plugins p ON p.id = m.plugin_id
    JOIN credential_profiles c ON c.id = m.credential_profile_id`;
const SCHEDULED = `${SELECT} WHERE m.enabled AND d.status::text = ANY($1::text[])`;

interface Row {
  id: number;
  device_id: number;
  agent_id: number;
  ip: string;
  port: number;
  use_ssl: boolean;
  credential_profile_id: number;
  credential_version: number;
  plugin_id: number;
  plugin_type: string;
  plugin_config: unknown;
  polling_interval: number;
}

export interface AssignmentStore {
  /** Every agent's assignments (at start). */
  loadAll(): Promise<AssignedMonitor[]>;
  /** One agent's assignments: one query. */
  loadAgent(agentId: number): Promise<AssignedMonitor[]>;
  /** The agent's assignments in `part` (one query): a change re-reads only what it touched. */
  loadSome(agentId: number, part: Subset): Promise<AssignedMonitor[]>;
  /** A monitor's assignment whether or not it is scheduled (on-demand polls); undefined if there is no such monitor. */
  loadMonitor(monitorId: number): Promise<AssignedMonitor | undefined>;
  agentOfMonitor(monitorId: number): Promise<number | undefined>;
  agentOfDevice(deviceId: number): Promise<number | undefined>;
  agentsWithMonitors(): Promise<number[]>;
}

export function createAssignmentStore(pool: pg.Pool, o: { jobTimeoutMs: number }): AssignmentStore {
  const statuses = [...SCHEDULABLE_DEVICE_STATUSES];
  const toAssigned = (r: Row): AssignedMonitor => {
    const intervalS = Math.min(86_400, Math.max(1, Number(r.polling_interval)));
    const assignment: Assignment = {
      monitor_id: Number(r.id),
      target: { ip: r.ip, port: Number(r.port), use_ssl: Boolean(r.use_ssl) },
      plugin: { type: r.plugin_type, config: r.plugin_config ?? {} },
      interval_s: intervalS,
      timeout_ms: Math.max(100, Math.min(o.jobTimeoutMs, intervalS * 1000)),
      credential: { profile_id: Number(r.credential_profile_id), version: Number(r.credential_version) },
    };
    return {
      agent_id: Number(r.agent_id),
      device_id: Number(r.device_id),
      plugin_id: Number(r.plugin_id),
      credential_profile_id: Number(r.credential_profile_id),
      assignment,
      json: JSON.stringify(assignment),
    };
  };
  return {
    async loadAll() {
      return (await pool.query<Row>(SCHEDULED, [statuses])).rows.map(toAssigned);
    },
    async loadAgent(agentId) {
      return (await pool.query<Row>(`${SCHEDULED} AND d.agent_id = $2`, [statuses, agentId])).rows.map(toAssigned);
    },
    async loadSome(agentId, part) {
      const lists = [part.monitors, part.devices, part.credentials, part.plugins].map((x) => [...x]);
      if (lists.every((l) => l.length === 0)) return [];
      const r = await pool.query<Row>(
        `${SCHEDULED} AND d.agent_id = $2 AND (m.id = ANY($3::int[]) OR m.device_id = ANY($4::int[]) OR m.credential_profile_id = ANY($5::int[]) OR m.plugin_id = ANY($6::int[]))`,
        [statuses, agentId, ...lists],
      );
      return r.rows.map(toAssigned);
    },
    async loadMonitor(monitorId) {
      const r = await pool.query<Row>(`${SELECT} WHERE m.id = $1`, [monitorId]);
      return r.rows[0] ? toAssigned(r.rows[0]) : undefined;
    },
    async agentOfMonitor(monitorId) {
      const r = await pool.query<{ agent_id: number }>(
        'SELECT d.agent_id FROM monitors m JOIN devices d ON d.id = m.device_id WHERE m.id = $1',
        [monitorId],
      );
      return r.rows[0] ? Number(r.rows[0].agent_id) : undefined;
    },
    async agentOfDevice(deviceId) {
      const r = await pool.query<{ agent_id: number }>('SELECT agent_id FROM devices WHERE id = $1', [deviceId]);
      return r.rows[0] ? Number(r.rows[0].agent_id) : undefined;
    },
    async agentsWithMonitors() {
      const r = await pool.query<{ agent_id: number }>(
        'SELECT DISTINCT d.agent_id FROM devices d JOIN monitors m ON m.device_id = d.id',
      );
      return r.rows.map((x) => Number(x.agent_id));
    },
  };
}
