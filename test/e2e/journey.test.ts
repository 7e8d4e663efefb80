import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import newman from 'newman';
import { createAdminClient } from '../../server/api/admin-client.ts';
import { withTestBackend, forEachBackend } from '../helpers/db.ts';
import { startTestServer, TEST_ADMIN, type TestServer } from '../helpers/server.ts';
import { startAgentProcess, waitFor, enrollAgent } from '../helpers/agent-process.ts';
import { startWinsim, type Winsim } from '../winsim/index.ts';

// The user journey, step by step, over HTTPS with real processes: 20 Windows hosts, one non-Windows
// HTTP service on 5985 and dead addresses in the same range.
const NET = '127.66.0';
const PASSWORD = 'Journey-Windows-1';
forEachBackend((backend) => {
  let s: TestServer;
  let sim: Winsim;
  let impostor: Server;
  let agent: ReturnType<typeof startAgentProcess>;
  before(async () => {
    s = await withTestBackend(backend, () => startTestServer({ discovery: { wait_s: 90 } }));
    sim = await startWinsim({
      hosts: 20,
      bind: `${NET}.1`,
      distinctAddresses: true,
      portBase: 5985,
      password: PASSWORD,
      auth: 'ntlm',
      seed: 21,
    });
    impostor = createServer((_req, res) => res.writeHead(404).end('not WinRM'));
    await new Promise<void>((r) => impostor.listen(5985, `${NET}.21`, () => r()));
  });
  after(async () => {
    agent?.child.kill('SIGKILL');
    impostor?.close();
    await sim?.stop();
    await s?.stop();
  });

  test('the user journey: login → credential profile → discovery → provisioning → metrics → deletion rules', {
    timeout: 360_000,
  }, async () => {
    // Step 1: authentication (the typed client logs in the same way).
    const login = await s.api('POST', '/api/v1/auth/login', TEST_ADMIN, null);
    assert.equal(login.status, 200);
    const token = login.body.token as string;
    const nms = await createAdminClient({ url: s.url, ...TEST_ADMIN, fingerprint: s.server.fingerprint });

    const { agentId, home } = await enrollAgent(s, 'journey-site', { token });
    agent = startAgentProcess(home);
    await waitFor('agent online', async () => (await nms.agents.get.query({ id: agentId })).online, 90_000);

    // Step 2: credential profile (through the typed client).
    const cred = await nms.credentialProfiles.create.mutate({
      name: 'WindowsAdmin',
      type: 'winrm_ntlm',
      username: 'Administrator',
      password: PASSWORD,
    });
    assert.equal((cred as Record<string, unknown>).password, undefined);

    // Step 3: discovery profile linked to it.
    const dp = await s.api(
      'POST',
      '/api/v1/discovery-profiles',
      { name: 'Office', agent_id: agentId, credential_profile_id: cred.id, target: `${NET}.1-${NET}.30` },
      token,
    );
    assert.equal(dp.status, 201);

    // Step 4: run discovery; a second run of the same profile meanwhile is refused. Both are sent at
    // once: whichever the server takes first runs, the other is a 409 (a fixed head start for the
    // first raced on a loaded machine).
    const both = await Promise.all(
      [0, 1].map(() => s.api('POST', `/api/v1/discovery-profiles/${dp.body.id}/run`, undefined, token)),
    );
    assert.deepEqual(both.map((r) => r.status).sort(), [200, 409], JSON.stringify(both.map((r) => [r.status, r.body])));
    const run = both.find((r) => r.status === 200)!;
    assert.equal(run.body.found, 20, 'exactly the Windows hosts: not the HTTP impostor, not the dead addresses');
    assert.equal(run.body.total, 30);
    const ips = run.body.devices.map((d: { ip: string }) => d.ip).sort();
    assert.deepEqual(ips, sim.hosts.map((h) => h.address).sort());
    const progress = await s.api('GET', `/api/v1/discovery-runs/${run.body.run_id}`, undefined, token);
    assert.equal(progress.body.status, 'completed');
    assert.equal(progress.body.scanned, 30);

    // Step 5: provision a monitor for every discovered device.
    const wmi = (await s.api('GET', '/api/v1/plugins', undefined, token)).body.find(
      (p: { name: string }) => p.name === 'windows-wmi',
    );
    const monitors: { id: number; ip: string }[] = [];
    for (const d of run.body.devices) {
      const m = await s.api(
        'POST',
        '/api/v1/monitors',
        { device_id: d.id, credential_profile_id: cred.id, plugin_id: wmi.id, polling_interval: 10 },
        token,
      );
      assert.equal(m.status, 201);
      assert.equal(m.body.enabled, true);
      monitors.push({ id: m.body.id, ip: d.ip });
    }

    // Step 6: polling in the background until every monitor has data.
    await waitFor(
      'metrics for all 20 monitors',
      async () => {
        const all = await Promise.all(
          monitors.map((m) => s.api('GET', `/api/v1/monitors/${m.id}/metrics`, undefined, token)),
        );
        return all.every((r) => r.status === 200);
      },
      120_000,
      500,
    );

    // Step 7: query metrics: latest matches the host; history in buckets.
    for (const m of monitors.slice(0, 5)) {
      const latest = (await s.api('GET', `/api/v1/monitors/${m.id}/metrics`, undefined, token)).body;
      const host = sim.hosts.find((h) => h.address === m.ip)!;
      const truth = host.truth().sample;
      assert.equal(latest.memory.total_bytes, truth.memory_total);
      assert.equal(latest.disk.total_bytes, truth.disk_total);
      assert.ok(latest.memory.usage_percent > 0 && latest.memory.usage_percent < 100);
      assert.ok(latest.process_count > 0);
    }
    const from = new Date(Date.now() - 3600_000).toISOString();
    const hist = await s.api(
      'GET',
      `/api/v1/monitors/${monitors[0]!.id}/metrics/history?from=${from}&bucket=5m`,
      undefined,
      token,
    );
    assert.equal(hist.status, 200);
    assert.ok(hist.body.data.length >= 1);
    assert.ok((await nms.monitors.list.query({})).length === 20);

    // Deletion rules, in their order (README).
    const first = monitors[0]!;
    const device = run.body.devices.find((d: { ip: string }) => d.ip === first.ip);
    let r = await s.api('DELETE', `/api/v1/credential-profiles/${cred.id}`, undefined, token);
    assert.equal(r.status, 400);
    assert.equal(r.body.error.message, 'Credential Profile in use by 20 monitor(s)');
    r = await s.api('DELETE', `/api/v1/devices/${device.id}`, undefined, token);
    assert.equal(r.body.error.message, 'Device in use by 1 monitor(s)');
    for (const m of monitors)
      assert.equal((await s.api('DELETE', `/api/v1/monitors/${m.id}`, undefined, token)).status, 204);
    r = await s.api('DELETE', `/api/v1/credential-profiles/${cred.id}`, undefined, token);
    assert.equal(r.body.error.message, 'Credential Profile in use by 1 discovery profile(s)');
    assert.equal((await s.api('DELETE', `/api/v1/discovery-profiles/${dp.body.id}`, undefined, token)).status, 204);
    assert.equal(
      (await s.api('GET', '/api/v1/devices', undefined, token)).body.length,
      20,
      'devices remain after their discovery profile is deleted',
    );
    assert.equal((await s.api('DELETE', `/api/v1/credential-profiles/${cred.id}`, undefined, token)).status, 204);
    assert.equal((await s.api('DELETE', `/api/v1/devices/${device.id}`, undefined, token)).status, 204);
  });

  test('the same journey from the committed Postman collection (newman) and from a typed-client admin script', {
    timeout: 360_000,
  }, async () => {
    const agentId = (await s.api('GET', '/api/v1/agents')).body.find((a: { name: string }) => a.name === 'journey-site')
      .id as number;
    const summary = await new Promise<newman.NewmanRunSummary>((resolve, reject) => {
      newman.run(
        {
          collection: fileURLToPath(new URL('../../server/api/rest/postman-collection.json', import.meta.url)),
          insecure: true,
          folder: 'Journey',
          envVar: [
            { key: 'baseUrl', value: `${s.url}/api/v1` },
            { key: 'username', value: 'admin' },
            { key: 'password', value: TEST_ADMIN.password },
            { key: 'siteAgentId', value: String(agentId) },
            { key: 'discoveryTarget', value: `${NET}.1-${NET}.25` },
            { key: 'expectRun', value: '200' },
          ],
          reporters: [],
        },
        (err, sum) => (err ? reject(err) : resolve(sum)),
      );
    });
    assert.deepEqual(
      summary.run.failures.map((f) => `${f.source?.name}: ${f.error.message}`),
      [],
    );
    const run = summary.run.executions.find((e) => e.item.name.startsWith('Run discovery'))!;
    assert.equal(JSON.parse(run.response.stream!.toString()).found, 20, 'Postman run found the 20 Windows hosts');

    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('../fixtures/admin-journey.mts', import.meta.url))],
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        env: {
          ...process.env,
          NMS_URL: s.url,
          NMS_PASSWORD: TEST_ADMIN.password,
          AGENT_ID: String(agentId),
          TARGET: `${NET}.1-${NET}.5`,
          WIN_PASSWORD: PASSWORD,
        },
        timeout: 300_000,
      },
    );
    const out = JSON.parse(stdout.trim().split('\n').pop()!);
    assert.deepEqual(out, {
      found: 5,
      status: 'completed',
      monitors: 5,
      with_data: 5,
      history_points: out.history_points,
      blocked: 'Credential Profile in use by 5 monitor(s)',
    });
    assert.ok(out.history_points >= 1);
  });
});
