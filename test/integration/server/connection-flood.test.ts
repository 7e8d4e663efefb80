import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { startTestServer } from '../../helpers/server.ts';
import { apiMonitor, apiCredential, connectRaw, enrollRaw } from '../hub/raw-agent.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Every client socket, destroyed at the end so a failed assertion does not leave the server waiting on them. */
const clients: Socket[] = [];

interface Tracked {
  openedAt: number;
  closedAt: number | undefined;
}

function openIdle(port: number, from: string): Promise<Tracked> {
  return new Promise((resolve) => {
    const t: Tracked = { openedAt: Date.now(), closedAt: undefined };
    const s: Socket = tcpConnect({ host: '127.0.0.1', port, localAddress: from });
    clients.push(s);
    s.on('error', () => {});
    s.once('close', () => (t.closedAt = Date.now()));
    s.once('connect', () => resolve(t));
    s.once('close', () => resolve(t));
  });
}

/** TLS done, then half a request head, then nothing. */
function openHalfSent(port: number, from: string): Promise<Tracked> {
  return new Promise((resolve) => {
    const t: Tracked = { openedAt: Date.now(), closedAt: undefined };
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...({ localAddress: from } as object) }); // tls.connect hands localAddress to net.connect
    clients.push(s);
    s.on('error', () => {});
    s.once('close', () => {
      t.closedAt = Date.now();
      resolve(t);
    });
    s.once('secureConnect', () => {
      s.write('GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      resolve(t);
    });
  });
}

async function openMany<T>(n: number, open: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += 100) out.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, open))));
  return out;
}

/** Issue 13 finding 2: idle sockets and half-sent requests from several addresses cannot starve the port. */
test('a connection flood from several 127.x addresses is capped per address and timed out; /health, the API and an enrolled agent keep working', {
  timeout: 120_000,
}, async () => {
  const PER_ADDRESS = 200;
  const s = await startTestServer({
    server: {
      host: '127.0.0.1',
      port: 0,
      max_connections: 3000,
      max_connections_per_address: PER_ADDRESS,
      tls_handshake_timeout_ms: 8000,
      headers_timeout_ms: 8000,
      request_timeout_ms: 10_000,
    },
  });
  try {
    const caps = s.logs.find((l) => l.includes('HTTPS connection caps'));
    assert.ok(caps, 'the chosen caps are logged');
    assert.match(caps!, /"fd_limit":(\d+|"unknown")/);
    assert.match(caps!, /"max_connections_per_address":200/);

    // An enrolled agent with an assigned monitor, connected from 127.0.0.1 (not one of the flooding addresses).
    const credId = await apiCredential(s, 'cf-cred');
    const agentId = await enrollRaw(s, 'cf-agent');
    const monId = await apiMonitor(s, agentId.agent_id, credId, '10.79.0.1');
    const agent = await connectRaw(s, agentId);
    await agent.next('schedule.full', (m) => !m.more && m.assignments.some((a) => a.monitor_id === monId));

    const started = Date.now();
    const idleFrom = ['127.0.3.1', '127.0.3.2', '127.0.3.3', '127.0.3.4', '127.0.3.5'];
    const idle = (
      await Promise.all(idleFrom.map((from) => openMany(PER_ADDRESS * 2, () => openIdle(s.port, from))))
    ).flat();
    const halfFrom = ['127.0.4.1', '127.0.4.2', '127.0.4.3'];
    const half = (await Promise.all(halfFrom.map((from) => openMany(100, () => openHalfSent(s.port, from))))).flat();
    await sleep(300);

    // Over the per-address cap: refused at once (nothing else closes a socket before the 8 s timeouts).
    const opening = Date.now() - started;
    assert.ok(opening < 7000, `the flood opened in ${opening} ms, before any timeout`);
    const refusedEarly = idle.filter((t) => t.closedAt !== undefined).length;
    assert.ok(
      refusedEarly >= idleFrom.length * PER_ADDRESS * 0.95 && refusedEarly <= idleFrom.length * PER_ADDRESS * 1.05,
      `about ${idleFrom.length * PER_ADDRESS} refused by the per-address cap, got ${refusedEarly}`,
    );
    assert.equal(
      half.filter((t) => t.closedAt !== undefined).length,
      0,
      'half-sent requests (within the cap) are still open before headersTimeout',
    );

    // During the flood: the public health check and an authenticated API call answer, quickly.
    const t0 = Date.now();
    assert.equal((await s.api('GET', '/api/v1/health', undefined, null)).status, 200);
    assert.equal((await s.api('GET', '/api/v1/monitors')).status, 200);
    assert.ok(Date.now() - t0 < 3000, `answered in ${Date.now() - t0} ms during the flood`);
    // The enrolled agent's results are acknowledged and stored during the flood; its session survives it.
    const slot = new Date(Math.floor((Date.now() - 3600_000) / 60_000) * 60_000).toISOString();
    const from = agent.messages.length;
    agent.send({
      type: 'results.batch',
      results: [
        {
          seq: 1,
          job_id: `cf-${monId}`,
          monitor_id: monId,
          time: slot,
          attempts: 1,
          failure: { class: 'internal', message: 'during the flood' },
        },
      ],
    });
    await agent.next('results.ack', (m) => m.seqs.includes(1), 5000, from);
    assert.ok(Date.now() - t0 < 6000, `the agent's batch was acknowledged ${Date.now() - t0} ms into the checks`);
    const stored = (await s.api('GET', `/api/v1/monitors/${monId}`)).body;
    assert.equal(stored.last_attempted, slot, 'the result is stored');
    assert.equal(
      (await s.api('GET', `/api/v1/agents/${agentId.agent_id}`)).body.online,
      true,
      'the agent is still online',
    );
    // A fresh connection from an address of the flood (at its cap) is refused; others are not.
    const extra = await openIdle(s.port, '127.0.3.1');
    await sleep(200);
    assert.ok(extra.closedAt !== undefined, 'a flooding address at its cap gets no further connection');

    // Sockets that never handshake are closed by the TLS handshake timeout, half-sent requests by headersTimeout.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && [...idle, ...half].some((t) => t.closedAt === undefined)) await sleep(250);
    const openIdleLeft = idle.filter((t) => t.closedAt === undefined).length;
    const openHalfLeft = half.filter((t) => t.closedAt === undefined).length;
    assert.equal(openIdleLeft, 0, 'idle sockets are closed by the handshake timeout');
    assert.equal(openHalfLeft, 0, 'half-sent requests are closed by the header timeout');
    const lastIdle = Math.max(...idle.map((t) => t.closedAt!)) - started;
    assert.ok(lastIdle < 16_000, `idle sockets gone ${lastIdle} ms after the flood began (handshake timeout 8 s)`);

    // After the flood the address may connect again.
    assert.equal((await s.api('GET', '/api/v1/health', undefined, null)).status, 200);
    const again = await openHalfSent(s.port, '127.0.3.1');
    await sleep(100);
    assert.equal(again.closedAt, undefined, 'the address is below its cap again');
    // The agent kept its session through the whole flood (heartbeats answered, no reconnect).
    assert.equal(
      await Promise.race([agent.closed.then(() => 'closed'), sleep(50).then(() => 'open')]),
      'open',
      "the agent's session outlived the flood",
    );
    agent.close();
  } finally {
    for (const c of clients) c.destroy();
    await s.stop();
  }
});
