import type pg from 'pg';

/** What the scheduler keeps per monitor: enough to build a job without touching the database. */
export interface ScheduledMonitor {
  monitor_id: number;
  device_id: number;
  agent_id: number;
  ip: string;
  port: number;
  use_ssl: boolean;
  credential_profile_id: number;
  plugin_id: number;
  interval_ms: number;
}

/** The scheduler's only database access: one query at start, one per event, batched state writes. */
export interface SchedulerStore {
  loadAll(): Promise<ScheduledMonitor[]>;
  /** undefined when the monitor is gone, disabled, or its device is not schedulable. */
  loadMonitor(monitorId: number): Promise<ScheduledMonitor | undefined>;
  loadDevice(deviceId: number): Promise<ScheduledMonitor[]>;
  markAttempted(monitorIds: number[], at: Date): Promise<void>;
  markAgentOffline(monitorIds: number[], at: Date): Promise<void>;
}

export const SCHEDULABLE_DEVICE_STATUSES = ['active', 'discovered'] as const;

const SELECT = `
  SELECT m.id AS monitor_id, m.device_id, d.agent_id, d.ip, d.port, d.use_ssl,
         m.credential_profile_id, m.plugin_id, m.polling_interval
    FROM monitors m JOIN devices d ON d.id = m.device_id
   WHERE m.enabled AND d.status::text = ANY($1::text[])`;

interface Row {
  monitor_id: number;
  device_id: number;
  agent_id: number;
  ip: string;
  port: number;
  use_ssl: boolean;
  credential_profile_id: number;
  plugin_id: number;
  polling_interval: number;
}

const toMonitor = (r: Row): ScheduledMonitor => ({
  monitor_id: Number(r.monitor_id),
  device_id: Number(r.device_id),
  agent_id: Number(r.agent_id),
  ip: r.ip,
  port: Number(r.port),
  use_ssl: Boolean(r.use_ssl),
  credential_profile_id: Number(r.credential_profile_id),
  plugin_id: Number(r.plugin_id),
  interval_ms: Math.max(1, Number(r.polling_interval)) * 1000,
});

export function createSchedulerStore(pool: pg.Pool): SchedulerStore {
  const statuses = [...SCHEDULABLE_DEVICE_STATUSES];
  return {
    async loadAll() {
      const r = await pool.query<Row>(SELECT, [statuses]);
      return r.rows.map(toMonitor);
    },
    async loadMonitor(id) {
      const r = await pool.query<Row>(`${SELECT} AND m.id = $2`, [statuses, id]);
      return r.rows[0] ? toMonitor(r.rows[0]) : undefined;
    },
    async loadDevice(deviceId) {
      const r = await pool.query<Row>(`${SELECT} AND m.device_id = $2`, [statuses, deviceId]);
      return r.rows.map(toMonitor);
    },
    async markAttempted(ids, at) {
      await pool.query(
        `UPDATE monitors SET last_attempted = GREATEST(last_attempted, $2::timestamptz)
          WHERE id = ANY($1::int[])`,
        [ids, at],
      );
    },
    // Not counted in consecutive_failures: a cut link says nothing about the host, and counting it
    // would deactivate every device of a site whose agent is down.
    async markAgentOffline(ids, at) {
      await pool.query(
        `UPDATE monitors
            SET last_attempted = GREATEST(last_attempted, $2::timestamptz),
                last_error = 'agent offline', last_error_class = 'agent_offline', last_error_at = $2
          WHERE id = ANY($1::int[])`,
        [ids, at],
      );
    },
  };
}
