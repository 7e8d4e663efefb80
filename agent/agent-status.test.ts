import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectAgentStatus, formatAgentStatus } from './agent-status.ts';
import { loadAgentConfig } from './config.ts';
import { generateAgentKeys } from './identity.ts';
import { createAssignmentStore } from './schedule/assignment-store.ts';
import { createOfflineState } from './schedule/offline-state.ts';
import { openDiskSpool } from './spool/disk-spool.ts';
import { describeResult } from './spool/spool.ts';
import type { SpooledResult } from './link/client.ts';

const quiet = { info() {}, warn() {}, error() {} };

test('status reports the saved schedule, the outage, the pause and the spool backlog with its oldest age', async () => {
  const home = mkdtempSync(join(tmpdir(), 'nmslite-status-'));
  const cfg = loadAgentConfig({ home, 'max-offline-hours': '1' }, {});
  const t0 = Date.now();
  const store = createAssignmentStore({
    file: join(home, 'schedule.json'),
    log: quiet,
    onChange() {},
    onPersisted() {},
    onResync() {},
  });
  store.applyFull({
    type: 'schedule.full',
    revision: 12,
    more: false,
    credentials: [],
    assignments: [1, 2, 3].map((id) => ({
      monitor_id: id,
      target: { ip: '10.0.0.1', port: 5985, use_ssl: false },
      plugin: { type: 'windows-wmi' },
      interval_s: 60,
      timeout_ms: 5000,
      credential: null,
    })),
  });
  await store.flush();
  const clock = { now: t0 - 2 * 3_600_000 };
  const state = createOfflineState({
    file: join(home, 'state.json'),
    maxOfflineMs: 3_600_000,
    log: quiet,
    localNow: () => clock.now,
  });
  state.load();
  state.linkUp();
  state.linkDown();
  state.admitPoll();
  await state.close();
  const spool = openDiskSpool<SpooledResult>({ dir: cfg.spool_dir, capBytes: 1 << 20, describe: describeResult });
  const oldest = new Date(t0 - 90 * 60_000).toISOString();
  await spool.append([
    { job_id: '1-x', monitor_id: 1, time: oldest, attempts: 1, failure: { class: 'unreachable', message: 'x' } },
  ]);
  await spool.close();

  const id = {
    agent_id: 4,
    name: 'site',
    server: 'wss://127.0.0.1:8443',
    server_fingerprint: 'ab'.repeat(32),
    ...generateAgentKeys(),
    enrolled_at: new Date().toISOString(),
  };
  const st = collectAgentStatus(cfg, id, { version: '0.1.0', hostname: 'h' }, t0);
  assert.equal(st.schedule_revision, 12);
  assert.equal(st.monitors_assigned, 3);
  assert.equal(st.offline_since, new Date(t0 - 2 * 3_600_000).toISOString());
  assert.equal(st.polls_offline, 1);
  assert.equal(st.polling_paused, true, 'two hours offline with a one-hour limit');
  assert.equal(st.spool_backlog, 1);
  assert.equal(st.spool_oldest_age_ms, 90 * 60_000);
  const text = formatAgentStatus(st, t0);
  assert.match(text, /schedule\s+revision 12, 3 monitors assigned/);
  assert.match(text, /offline since\s+\S+ \(2h 0m\)/);
  assert.match(text, /polls offline\s+1/);
  assert.match(text, /polling\s+PAUSED/);
  assert.match(text, /spool\s+1 results waiting .*oldest 1h 30m old/);
});

test('status names a damaged saved schedule instead of saying none was received', async () => {
  const home = mkdtempSync(join(tmpdir(), 'nmslite-status-'));
  const cfg = loadAgentConfig({ home }, {});
  writeFileSync(join(home, 'schedule.json'), '{"format":1,"revision":3,"assign');
  const id = {
    agent_id: 4,
    name: 'site',
    server: 'wss://127.0.0.1:8443',
    server_fingerprint: 'ab'.repeat(32),
    ...generateAgentKeys(),
    enrolled_at: new Date().toISOString(),
  };
  const st = collectAgentStatus(cfg, id, { version: '0.1.0', hostname: 'h' });
  assert.equal(st.schedule_revision, null);
  assert.match(st.schedule_error ?? '', /damaged/);
  assert.match(formatAgentStatus(st), /schedule\s+saved schedule unreadable: damaged/);
});
