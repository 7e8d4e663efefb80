import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import type { PollJob as WireJob } from '../shared/protocol/index.ts';
import type { CredentialSealer } from './hub/credential-sealer.ts';
import type { Hub } from './hub/hub.ts';
import { createPollPipeline } from './pipeline.ts';
import type { PollJob } from './scheduler/scheduler.ts';

const silent = { info() {}, warn() {}, error() {}, debug() {} };
const job = (i: number): PollJob => ({ job_id: `j${i}`, monitor_id: i, device_id: i, ip: '10.0.0.1', port: 5985, use_ssl: false, credential_profile_id: i % 7 === 0 ? 99 : 1, plugin_id: 1, due: 1_000, deadline: 61_000 });

/** A hub whose window, like a session's, counts claimed room at once. */
function fakeHub(limit: number) {
  const claimed = new Set<string>();
  const sent: WireJob[] = [];
  const released: string[] = [];
  const hub = {
    claim: (_a: number, jobs: readonly { job_id: string }[]) => {
      const n = Math.max(0, Math.min(jobs.length, limit - claimed.size));
      for (const j of jobs.slice(0, n)) claimed.add(j.job_id);
      return n;
    },
    sendClaimed: (_a: number, jobs: WireJob[]) => (sent.push(...jobs), []),
    release: (_a: number, ids: readonly string[]) => {
      for (const id of ids) claimed.delete(id);
      released.push(...ids);
    },
  } as unknown as Hub;
  return { hub, sent, released, claimed };
}

test('back-to-back dispatches never claim the same room; a job that cannot be prepared is released and reported at once', async () => {
  const h = fakeHub(600);
  const unsent: { job_id: string; cls: string }[] = [];
  const pool = { query: async () => ({ rows: [{ type: 'windows-wmi', config: {} }] }) } as unknown as pg.Pool;
  // Sealing takes a while (as a database lookup does); profile 99 cannot be sealed.
  const sealer = {
    seal: async (_a: number, profile: number) => {
      await new Promise((r) => setTimeout(r, 5));
      if (profile === 99) throw new Error('profile gone');
      return { profile_id: profile, version: 1, sealed: 'jwe' };
    },
  } as unknown as CredentialSealer;
  const p = createPollPipeline({ pool, hub: h.hub, sealer, log: silent as never, onUnsent: (jobs) => unsent.push(...jobs.map((j) => ({ job_id: j.job_id, cls: j.result.ok ? 'ok' : j.result.failure.class }))) });
  const jobs = Array.from({ length: 1000 }, (_, i) => job(i + 1));
  const a = p.dispatch(1, jobs.slice(0, 500));
  const b = p.dispatch(1, jobs.slice(500));
  assert.deepEqual([a, b], [500, 100], 'the second call gets only the room left');
  for (let t = 0; t < 200 && h.sent.length + unsent.length < 600; t++) await new Promise((r) => setTimeout(r, 50));
  const unprepared = jobs.slice(0, 600).filter((j) => j.credential_profile_id === 99).map((j) => j.job_id);
  assert.equal(h.sent.length + unsent.length, 600, 'every accepted job is sent or reported');
  assert.deepEqual(unsent.map((u) => u.job_id).sort(), unprepared.sort(), 'the unpreparable ones are reported');
  assert.ok(unsent.every((u) => u.cls === 'internal'), 'as internal failures (not held against the device)');
  assert.deepEqual(h.released.sort(), unprepared.sort(), 'and their room is given back');
});
