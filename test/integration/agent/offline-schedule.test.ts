import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CompactEncrypt } from 'jose';
import { WebSocketServer, type WebSocket } from 'ws';
import { generateAgentKeys, saveIdentity, type AgentIdentity } from '../../../agent/identity.ts';
import { CloseCode, PROTOCOL_VERSION, type Assignment, type SealedCredential } from '../../../shared/protocol/index.ts';
import { isSlot, pollJobId } from '../../../shared/schedule.ts';
import { agentHome, runAgentCommand, startAgentProcess, waitFor } from '../../helpers/agent-process.ts';
import { startWinsim, type Winsim } from '../../winsim/index.ts';
import { selfSignedCert } from '../../winsim/tls-cert.ts';

// A real agent process against a scripted protocol-2 server (the agent's side of issue 11, testable
// while the real server changes): schedule in parts, deltas, resync, poll.now, then outages with the
// server gone, the agent SIGKILLed and restarted while it is still gone, and max_offline_hours.

type Msg = Record<string, any>;
interface Received {
  monitor_id: number;
  time: string;
  job_id: string;
  seq: number;
  attempts?: number;
  metrics?: unknown;
  failure?: { class: string; message: string };
}

let sim: Winsim;
let cert: { cert: string; key: string; fingerprint: string };
before(async () => {
  sim = await startWinsim({ hosts: 3, portBase: 0, auth: 'ntlm', seed: 11, password: 'Offline-Site-1' });
  cert = await selfSignedCert();
});
after(async () => {
  await sim.stop();
});

/** A fake NMSlite server: welcomes the agent, records what it sends, acks results; `onHello` scripts the rest. */
async function fakeServer(port = 0, onHello: (ws: WebSocket, hello: Msg) => void = () => {}) {
  const server: Server = createServer({ cert: cert.cert, key: cert.key });
  const wss = new WebSocketServer({ server, path: '/agent' });
  const messages: Msg[] = [];
  const results: Received[] = [];
  const sockets = new Set<WebSocket>();
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('error', () => {});
    ws.send(JSON.stringify({ type: 'challenge', nonce: 'n'.repeat(43) }));
    ws.on('close', () => sockets.delete(ws));
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw)) as Msg;
      messages.push(m);
      if (m.type === 'hello') {
        ws.send(
          JSON.stringify({
            type: 'welcome',
            agent_id: 9,
            protocol: PROTOCOL_VERSION,
            server_time: Date.now(),
            echo: m.sent_at,
            heartbeat_ms: 1000,
          }),
        );
        onHello(ws, m);
      } else if (m.type === 'heartbeat')
        ws.send(JSON.stringify({ type: 'heartbeat.ack', echo: m.sent_at, server_time: Date.now() }));
      else if (m.type === 'results.batch') {
        results.push(...(m.results as Received[]));
        ws.send(JSON.stringify({ type: 'results.ack', seqs: m.results.map((r: Received) => r.seq) }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    messages,
    results,
    send: (m: Msg) => {
      for (const s of sockets) s.send(JSON.stringify(m));
    },
    of: (type: string) => messages.filter((m) => m.type === type),
    async stop() {
      for (const s of sockets) s.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function enrolledHome(port: number): Promise<{ home: string; identity: AgentIdentity }> {
  const home = agentHome();
  const identity: AgentIdentity = {
    agent_id: 9,
    name: 'offline-site',
    server: `wss://127.0.0.1:${port}`,
    server_fingerprint: cert.fingerprint.replace(/:/g, '').toLowerCase(),
    ...generateAgentKeys(),
    enrolled_at: new Date().toISOString(),
  };
  saveIdentity(join(home, 'identity.json'), identity);
  return { home, identity };
}

async function seal(identity: AgentIdentity, profileId: number): Promise<SealedCredential> {
  const h = sim.hosts[0]!;
  const payload = {
    type: 'winrm_ntlm',
    username: h.user,
    password: h.password,
    domain: null,
    tls_verify: 'insecure',
    tls_fingerprint: null,
  };
  const sealed = await new CompactEncrypt(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', cty: 'nmslite-credential' })
    .encrypt(createPublicKey(identity.seal_public_key));
  return { profile_id: profileId, version: 0, sealed };
}

function assignment(id: number, hostIndex: number, interval_s: number): Assignment {
  const h = sim.hosts[hostIndex]!;
  return {
    monitor_id: id,
    target: { ip: h.address, port: h.port, use_ssl: false },
    plugin: { type: 'windows-wmi' },
    interval_s,
    timeout_ms: 1500,
    credential: { profile_id: 1, version: 0 },
  };
}

const status = async (home: string, extra: string[] = []): Promise<Msg> => {
  const r = await runAgentCommand(['status', '--home', home, '--json', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Msg;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the agent runs its schedule from the server, keeps polling through an outage and its own restart, and delivers every poll once', {
  timeout: 180_000,
}, async () => {
  let srv = await fakeServer();
  const port = srv.port;
  const { home, identity } = await enrolledHome(port);
  const credential = await seal(identity, 1);
  const m1 = 101;
  const m2 = 102;
  const m3 = 103;
  const fullSet = (revision: number, m2Interval: number, withM3: boolean) => (ws: WebSocket) => {
    ws.send(
      JSON.stringify({
        type: 'schedule.full',
        revision,
        assignments: [assignment(m1, 0, 2)],
        credentials: [credential],
        more: true,
      }),
    );
    ws.send(
      JSON.stringify({
        type: 'schedule.full',
        revision,
        assignments: [assignment(m2, 1, m2Interval), ...(withM3 ? [assignment(m3, 2, 2)] : [])],
        credentials: [],
        more: false,
      }),
    );
  };
  await srv.stop();
  srv = await fakeServer(port, fullSet(1, 2, true));
  let agent = startAgentProcess(home, ['--ping-before-poll', 'false']);
  try {
    await waitFor('schedule.ack 1', async () => srv.of('schedule.ack').some((m) => m.revision === 1), 20_000, 50);
    const hello = srv.of('hello')[0]!;
    assert.equal(hello.protocol, PROTOCOL_VERSION);
    assert.equal(hello.schedule_revision, null, 'a new agent holds no schedule');
    await waitFor(
      'two results per monitor',
      async () => [m1, m2, m3].every((id) => srv.results.filter((r) => r.monitor_id === id && r.metrics).length >= 2),
      20_000,
      100,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}: ${JSON.stringify(srv.results.map((r) => [r.monitor_id, r.time, r.failure?.message ?? 'ok']))}`,
      );
    });
    for (const r of srv.results) {
      assert.ok(isSlot(r.monitor_id, 2000, Date.parse(r.time)), `result ${r.job_id} at ${r.time} is on its slot`);
      assert.equal(r.job_id, pollJobId(r.monitor_id, Date.parse(r.time)));
      assert.ok(r.attempts! >= 1, 'attempts reported');
    }
    const hb = await waitFor(
      'a heartbeat with the schedule',
      async () => srv.of('heartbeat').find((m) => m.health.monitors_assigned === 3),
      10_000,
      50,
    );
    assert.equal(hb.health.schedule_revision, 1);
    assert.equal(hb.health.offline_since, null);
    assert.equal(hb.health.polling_paused, false);

    // Changes: m3 removed, m2 to 3 s.
    const changedAt = Date.now();
    srv.send({
      type: 'schedule.delta',
      base: 1,
      revision: 2,
      upsert: [assignment(m2, 1, 3)],
      remove: [m3],
      credentials: [],
    });
    await waitFor('schedule.ack 2', async () => srv.of('schedule.ack').some((m) => m.revision === 2), 10_000, 50);
    srv.send({ type: 'schedule.delta', base: 7, revision: 8, upsert: [], remove: [m1], credentials: [] });
    const resync = await waitFor('schedule.resync', async () => srv.of('schedule.resync')[0], 10_000, 50);
    assert.equal(resync.have, 2);
    srv.send({ type: 'poll.now', request_id: 'now-1', assignment: assignment(m3, 2, 60), credential });
    const answer = await waitFor('poll.result', async () => srv.of('poll.result')[0], 10_000, 50);
    assert.equal(answer.request_id, 'now-1');
    assert.ok(answer.metrics, JSON.stringify(answer));
    assert.equal(
      srv.results.filter((r) => r.job_id.startsWith('now-')).length,
      0,
      'an on-demand poll is never spooled',
    );
    await sleep(7000);
    assert.deepEqual(
      srv.results.filter((r) => r.monitor_id === m3 && Date.parse(r.time) > changedAt + 200),
      [],
      'no poll of the removed monitor',
    );
    const m2After = srv.results.filter((r) => r.monitor_id === m2 && Date.parse(r.time) > changedAt + 2000);
    assert.ok(
      m2After.length >= 1 && m2After.every((r) => isSlot(m2, 3000, Date.parse(r.time))),
      'the new interval applies',
    );
    assert.ok(
      srv.results.some((r) => r.monitor_id === m1 && Date.parse(r.time) > changedAt + 2000),
      'the bad delta changed nothing',
    );

    // Outage: the server goes away.
    await srv.stop();
    const downAt = Date.now();
    const results = srv.results;
    await sleep(6000);
    const st1 = await status(home);
    assert.equal(st1.schedule_revision, 2);
    assert.equal(st1.monitors_assigned, 2);
    assert.ok(
      st1.offline_since !== null && Math.abs(Date.parse(st1.offline_since) - downAt) < 3000,
      `offline since ${st1.offline_since}`,
    );
    assert.ok(st1.polls_offline >= 2, `${st1.polls_offline} polls while offline`);
    assert.ok(st1.spool_backlog >= 3, `${st1.spool_backlog} results spooled`);
    assert.ok(st1.spool_oldest_age_ms === null || st1.spool_oldest_age_ms >= 0);
    assert.equal(st1.polling_paused, false);

    // The agent dies during the outage and comes back while the server is still gone.
    agent.child.kill('SIGKILL');
    await agent.exited;
    const restartedAt = Date.now();
    agent = startAgentProcess(home, ['--ping-before-poll', 'false']);
    await waitFor(
      'the saved schedule loaded',
      async () => agent.logs.some((l) => l.includes('loaded the saved schedule')),
      20_000,
      50,
    );
    const backlogBefore = (await status(home)).spool_backlog as number;
    await sleep(6000);
    const st2 = await status(home);
    assert.ok(
      st2.spool_backlog > backlogBefore,
      `polling goes on after the restart (${backlogBefore} -> ${st2.spool_backlog})`,
    );
    assert.equal(st2.offline_since, st1.offline_since, 'the same outage');

    // The server is back: the set is sent again and the spool drains.
    srv = await fakeServer(port, fullSet(2, 3, false));
    const backAt = Date.now();
    await waitFor('reconnected', async () => srv.of('hello').length > 0, 30_000, 100);
    assert.equal(srv.of('hello')[0]!.schedule_revision, 2, 'the hello names the persisted revision');
    await waitFor(
      'the spool drained',
      async () => (await status(home)).spool_backlog === 0 && srv.results.length > 0,
      30_000,
      500,
    );
    const all = [...results, ...srv.results];
    const bySlot = new Map<string, Set<number>>();
    for (const r of all) {
      const k = `${r.monitor_id}@${r.time}`;
      if (!bySlot.has(k)) bySlot.set(k, new Set());
      bySlot.get(k)!.add(r.seq);
    }
    for (const [k, seqs] of bySlot) assert.equal(seqs.size, 1, `${k} was polled once (seqs ${[...seqs].join(',')})`);
    // Every m1 slot (2 s) from after the change to the kill, and from the restart's first poll to the reconnect, is there.
    const m1Slots = new Set(all.filter((r) => r.monitor_id === m1).map((r) => Date.parse(r.time)));
    const firstAfterRestart = Math.min(...[...m1Slots].filter((t) => t > restartedAt));
    const want = (from: number, to: number) => {
      const out: number[] = [];
      for (let t = [...m1Slots].find((s) => s >= from) ?? from; t <= to; t += 2000) out.push(t);
      return out;
    };
    const lastBeforeKill = Math.max(...[...m1Slots].filter((t) => t < restartedAt));
    for (const t of [...want(changedAt + 2000, lastBeforeKill), ...want(firstAfterRestart, backAt)])
      assert.ok(m1Slots.has(t), `m1 slot ${new Date(t).toISOString()} delivered`);
    assert.ok(
      all.some((r) => Date.parse(r.time) > downAt + 1000 && Date.parse(r.time) < restartedAt),
      'polls from the outage before the kill',
    );
    assert.ok(
      all.some((r) => Date.parse(r.time) > restartedAt && Date.parse(r.time) < backAt),
      'polls from the outage after the restart',
    );
    const st3 = await waitFor(
      'online status',
      async () => {
        const s = await status(home);
        return s.offline_since === null ? s : undefined;
      },
      10_000,
      200,
    );
    assert.ok(st3.polls_offline >= st2.polls_offline);
  } finally {
    agent.child.kill('SIGKILL');
    await agent.exited;
    await srv.stop();
  }
});

test('past max_offline_hours the agent pauses polling, says so once, and resumes when the server is back', {
  timeout: 120_000,
}, async () => {
  let srv = await fakeServer();
  const port = srv.port;
  const { home, identity } = await enrolledHome(port);
  const credential = await seal(identity, 1);
  const full = (ws: WebSocket) =>
    ws.send(
      JSON.stringify({
        type: 'schedule.full',
        revision: 4,
        assignments: [assignment(201, 0, 1)],
        credentials: [credential],
        more: false,
      }),
    );
  await srv.stop();
  srv = await fakeServer(port, full);
  // 0.001 h = 3.6 s
  const agent = startAgentProcess(home, ['--ping-before-poll', 'false', '--max-offline-hours', '0.001']);
  try {
    await waitFor('results', async () => srv.results.length >= 2, 20_000, 50);
    await srv.stop();
    await waitFor('paused', async () => (await status(home)).polling_paused === true, 20_000, 500);
    const paused = agent.logs.filter((l) => l.includes('polling is paused'));
    assert.equal(paused.length, 1, 'one warning');
    const b1 = (await status(home)).spool_backlog as number;
    await sleep(3000);
    assert.equal((await status(home)).spool_backlog, b1, 'no polls while paused');
    srv = await fakeServer(port, full);
    const backAt = Date.now();
    await waitFor('polling again', async () => srv.results.some((r) => Date.parse(r.time) > backAt), 30_000, 100);
    assert.ok(agent.logs.some((l) => l.includes('polling resumes')));
    const st = await waitFor(
      'online status',
      async () => {
        const s = await status(home);
        return s.offline_since === null ? s : undefined;
      },
      10_000,
      200,
    );
    assert.equal(st.polling_paused, false);
  } finally {
    agent.child.kill('SIGKILL');
    await agent.exited;
    await srv.stop();
  }
});

test('an agent refused for its protocol version exits and says it must be upgraded', { timeout: 60_000 }, async () => {
  const server: Server = createServer({ cert: cert.cert, key: cert.key });
  const wss = new WebSocketServer({ server, path: '/agent' });
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ type: 'challenge', nonce: 'n'.repeat(43) }));
    ws.once('message', () => ws.close(CloseCode.versionMismatch, 'protocol 4 required (server 0.2.0)'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { home } = await enrolledHome((server.address() as { port: number }).port);
  const agent = startAgentProcess(home, ['--ping-before-poll', 'false']);
  try {
    const code = await agent.exited;
    assert.equal(code, 3);
    assert.ok(
      agent.logs.some((l) => /must be upgraded to the server's version/.test(l)),
      agent.logs.join('\n'),
    );
  } finally {
    wss.close();
    server.close();
  }
});

test('slots passed over while the agent was stalled (SIGSTOP, a suspended VM) are counted in its health, and polling goes on', {
  timeout: 120_000,
}, async () => {
  let srv = await fakeServer();
  const port = srv.port;
  const { home, identity } = await enrolledHome(port);
  const credential = await seal(identity, 1);
  await srv.stop();
  srv = await fakeServer(port, (ws) =>
    ws.send(
      JSON.stringify({
        type: 'schedule.full',
        revision: 1,
        assignments: [assignment(301, 0, 2)],
        credentials: [credential],
        more: false,
      }),
    ),
  );
  const agent = startAgentProcess(home, ['--ping-before-poll', 'false']);
  try {
    await waitFor('a first result', async () => srv.results.some((r) => r.monitor_id === 301), 45_000, 100).catch(
      (err: Error) => {
        throw new Error(`${err.message}\n${agent.logs.slice(-30).join('\n')}`);
      },
    );
    agent.child.kill('SIGSTOP');
    await sleep(5000);
    agent.child.kill('SIGCONT');
    const resumedAt = Date.now();
    const beat = await waitFor(
      'a heartbeat counting missed slots',
      async () => srv.of('heartbeat').find((m) => (m.health?.errors?.slots_missed ?? 0) >= 1),
      20_000,
      100,
    );
    assert.ok(
      beat.health.errors.slots_missed <= 3,
      `${beat.health.errors.slots_missed} slots missed in a 5 s stall at 2 s`,
    );
    await waitFor(
      'polling after the stall',
      async () => srv.results.some((r) => r.monitor_id === 301 && Date.parse(r.time) > resumedAt),
      20_000,
      100,
    );
    const times = srv.results.filter((r) => r.monitor_id === 301).map((r) => r.time);
    assert.equal(new Set(times).size, times.length, 'no slot twice');
  } finally {
    agent.child.kill('SIGKILL');
    await agent.exited;
    await srv.stop();
  }
});
