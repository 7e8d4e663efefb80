import type pg from 'pg';

/** Inserts one agent, credential profile, plugin and `n` devices each with one monitor; returns monitor ids. */
export async function seedMonitors(
  pool: pg.Pool,
  n: number,
  status = 'active',
): Promise<{ monitorIds: number[]; deviceIds: number[]; agentId: number }> {
  const tag = Math.random().toString(36).slice(2, 8);
  const a = await pool.query(`INSERT INTO agents (name, status) VALUES ($1, 'active') RETURNING id`, [`a-${tag}`]);
  const agentId = a.rows[0].id as number;
  const c = await pool.query(
    `INSERT INTO credential_profiles (name, type, username, password_enc, key_id, port) VALUES ($1, 'winrm_basic', 'u', 'x', 'k', 5985) RETURNING id`,
    [`c-${tag}`],
  );
  const p = await pool.query(`INSERT INTO plugins (name, type) VALUES ($1, 'windows-wmi') RETURNING id`, [`p-${tag}`]);
  const monitorIds: number[] = [];
  const deviceIds: number[] = [];
  for (let i = 0; i < n; i++) {
    const d = await pool.query(`INSERT INTO devices (agent_id, ip, status) VALUES ($1, $2, $3) RETURNING id`, [
      agentId,
      `10.9.${i >> 8}.${i & 255}`,
      status,
    ]);
    deviceIds.push(d.rows[0].id);
    const m = await pool.query(
      `INSERT INTO monitors (device_id, credential_profile_id, plugin_id, polling_interval, enabled) VALUES ($1, $2, $3, 60, true) RETURNING id`,
      [d.rows[0].id, c.rows[0].id, p.rows[0].id],
    );
    monitorIds.push(m.rows[0].id);
  }
  return { monitorIds, deviceIds, agentId };
}
