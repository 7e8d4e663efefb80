import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  collectWindowsMetrics,
  collectWindowsMetricsPowerShell,
  createWinrmClient,
  WinrmAuthError,
  WinrmAccessDeniedError,
  WinrmFaultError,
} from '../../../agent/winrm/index.ts';
import { defaultNtlmFactory } from '../../../agent/winrm/ntlm-factory.ts';
import type { NtlmFactory } from '../../../agent/winrm/transport.ts';
import { startWinsim, type Winsim } from '../../winsim/index.ts';

// The agent's own client against the simulator: an end-to-end check of both, over HTTPS with Basic.
const FROZEN = Date.UTC(2026, 10, 23, 12, 0, 0);

describe('agent WinRM client against winsim over HTTPS with Basic', () => {
  let sim: Winsim;
  before(async () => {
    sim = await startWinsim({ hosts: 2, portBase: 0, auth: 'basic', https: true, seed: 21, clock: () => FROZEN });
  });
  after(async () => {
    await sim.stop();
  });
  const client = (i: number, o: { password?: string } = {}) => {
    const h = sim.hosts[i]!;
    return createWinrmClient({
      host: h.address,
      port: h.port,
      https: true,
      auth: 'basic',
      username: h.user,
      password: o.password ?? h.password,
      tls: { mode: 'pin', fingerprint: h.fingerprint! },
    });
  };

  test('collectWindowsMetrics over WMI returns the host’s true values', async () => {
    const c = client(0);
    try {
      const sample = await collectWindowsMetrics(c);
      const { collection_ms, ...values } = sample;
      assert.ok(collection_ms >= 0);
      assert.deepEqual(values, sim.hosts[0]!.truth().sample);
    } finally {
      c.close();
    }
  });

  test('the PowerShell metrics script gives the same numbers as WMI', async () => {
    const c = client(1);
    try {
      const { collection_ms: _a, ...wmi } = await collectWindowsMetrics(c);
      const { collection_ms: _b, ...ps } = await collectWindowsMetricsPowerShell(c);
      assert.deepEqual(ps, wmi);
      assert.equal(sim.hosts[1]!.sim.openShells, 0, 'the client deleted its shell');
    } finally {
      c.close();
    }
  });

  test('runCommand hostname and an unknown command', async () => {
    const c = client(0);
    try {
      const ok = await c.runCommand('hostname');
      assert.equal(ok.exitCode, 0);
      assert.equal(ok.stdout.trim(), sim.hosts[0]!.hostname);
      const bad = await c.runCommand('frobnicate');
      assert.equal(bad.exitCode, 1);
      assert.match(bad.stderr, /'frobnicate' is not recognized as an internal or external command/);
    } finally {
      c.close();
    }
  });

  test('a wrong password is an auth error; access denied is its own error', async () => {
    const c = client(0, { password: 'wrong' });
    try {
      await assert.rejects(c.enumerate('SELECT * FROM Win32_OperatingSystem'), WinrmAuthError);
    } finally {
      c.close();
    }
    await sim.hosts[1]!.setFault({ accessDenied: true });
    const d = client(1);
    try {
      await assert.rejects(d.enumerate('SELECT * FROM Win32_OperatingSystem'), WinrmAccessDeniedError);
    } finally {
      d.close();
      await sim.hosts[1]!.setFault({ accessDenied: false });
    }
  });
});

describe('agent WinRM client against winsim over HTTP with NTLM and message encryption', () => {
  let sim: Winsim;
  before(async () => {
    sim = await startWinsim({ hosts: 1, portBase: 0, auth: 'ntlm', seed: 22, clock: () => FROZEN });
  });
  after(async () => {
    await sim.stop();
  });

  test('collectWindowsMetrics seals every request on one authenticated connection', async () => {
    const h = sim.hosts[0]!;
    const c = createWinrmClient({
      host: h.address,
      port: h.port,
      auth: 'ntlm',
      username: h.user,
      password: h.password,
      maxConnections: 1,
    });
    try {
      const sample = await collectWindowsMetrics(c);
      const { collection_ms: _ms, ...values } = sample;
      assert.deepEqual(values, h.truth().sample);
      assert.equal(h.sim.stats.ntlmHandshakes, 1);
      assert.ok(h.sim.stats.encryptedRequests >= 4);
      assert.equal(h.sim.stats.refusedUnencrypted, 0);
      const ps = await collectWindowsMetricsPowerShell(c);
      assert.equal(ps.cpu_percent, values.cpu_percent);
    } finally {
      c.close();
    }
  });

  test('a long script goes on stdin and runs whole: output, then its own exit code', async () => {
    const h = sim.hosts[0]!;
    const c = createWinrmClient({
      host: h.address,
      port: h.port,
      auth: 'ntlm',
      username: h.user,
      password: h.password,
    });
    try {
      const padding = `# ${'x'.repeat(6000)}`;
      const r = await c.runPowerShell(`${padding}\nWrite-Output 'first'\nhostname\nexit 7`);
      assert.deepEqual(
        [r.stdout.split(/\r?\n/).filter(Boolean), r.exitCode],
        [['first', h.hostname], 7],
        'whole script ran',
      );
    } finally {
      c.close();
    }
  });

  test('a response that cannot be unsealed retires its connection: the next request authenticates afresh and succeeds', async () => {
    const h = sim.hosts[0]!;
    let breakNext = false;
    // The real NTLM, with one unwrap failing before it touches the session (as a torn or foreign frame does).
    const ntlm: NtlmFactory = (creds) => {
      const real = defaultNtlmFactory(creds);
      return {
        ...real,
        sealer() {
          const s = real.sealer();
          return {
            wrap: (soap) => s.wrap(soap),
            unwrap: (body, ctype) => {
              if (breakNext) {
                breakNext = false;
                throw new Error('torn frame');
              }
              return s.unwrap(body, ctype);
            },
          };
        },
      };
    };
    const c = createWinrmClient(
      { host: h.address, port: h.port, auth: 'ntlm', username: h.user, password: h.password, maxConnections: 1 },
      { ntlm },
    );
    try {
      await c.identify();
      breakNext = true;
      await assert.rejects(
        c.identify(),
        (e: unknown) => e instanceof WinrmFaultError && e.code === 'ntlm_unseal',
        'the unseal failure is reported',
      );
      for (let i = 0; i < 3; i++) await c.identify();
      assert.equal(c.stats.handshakes, 2, 'one new handshake on a new connection, then reuse');
    } finally {
      c.close();
    }
  });
});
