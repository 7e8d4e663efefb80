import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../../helpers/server.ts';

// Issue 13, finding 1 (server side): an external plugin is a name the agent's site installed, and
// the built-in plugins cannot be retyped, reconfigured or deleted through the API.
let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(() => s.stop());

test('an external plugin refers to an installed plugin by name: a path or a command line is a 400 naming config.command', async () => {
  for (const command of ['/bin/sh', 'sh -c id', '../check', '.', 'c:\\tools\\check.exe', 'x'.repeat(101)]) {
    const r = await s.api('POST', '/api/v1/plugins', {
      name: `bad-${command.length}-${Math.random()}`,
      type: 'external',
      config: { command },
    });
    assert.equal(r.status, 400, command);
    assert.equal(r.body.error.code, 'VALIDATION_ERROR');
    assert.equal(r.body.error.details.field, 'config.command');
    assert.match(r.body.error.message, /plugins folder/);
  }
  const extra = await s.api('POST', '/api/v1/plugins', {
    name: 'extra-key',
    type: 'external',
    config: { command: 'check', shell: true },
  });
  assert.equal(extra.status, 400);
  assert.equal(extra.body.error.details.field, 'config.shell');
  const builtinType = await s.api('POST', '/api/v1/plugins', {
    name: 'wmi-with-command',
    type: 'windows-wmi',
    config: { command: '/bin/sh' },
  });
  assert.equal(builtinType.status, 400);
  assert.equal(builtinType.body.error.details.field, 'config.command');

  const ok = await s.api('POST', '/api/v1/plugins', {
    name: 'check-disk',
    type: 'external',
    config: { command: 'check_disk.py', args: ['-w', '80'] },
  });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  const retyped = await s.api('PUT', `/api/v1/plugins/${ok.body.id}`, { config: { command: '/usr/bin/env' } });
  assert.equal(retyped.status, 400);
  assert.equal((await s.api('GET', `/api/v1/plugins/${ok.body.id}`)).body.config.command, 'check_disk.py');
});

test('the built-in plugins are read-only: PUT and DELETE are 400 and change nothing', async () => {
  const list = (await s.api('GET', '/api/v1/plugins')).body as {
    id: number;
    name: string;
    type: string;
    builtin: boolean;
    config: unknown;
  }[];
  const builtins = list.filter((p) => p.builtin);
  assert.deepEqual(builtins.map((p) => p.name).sort(), ['windows-powershell', 'windows-wmi']);
  for (const p of builtins) {
    for (const body of [
      { type: 'external', config: { command: 'evil' } },
      { description: 'mine now' },
      { name: 'renamed' },
      { config: {} },
    ]) {
      const r = await s.api('PUT', `/api/v1/plugins/${p.id}`, body);
      assert.equal(r.status, 400, `${p.name} ${JSON.stringify(body)}`);
      assert.equal(r.body.error.code, 'VALIDATION_ERROR');
      assert.match(r.body.error.message, /built in and read-only: it cannot be changed/);
    }
    const d = await s.api('DELETE', `/api/v1/plugins/${p.id}`);
    assert.equal(d.status, 400);
    assert.match(d.body.error.message, /built in and read-only: it cannot be deleted/);
    const after = (await s.api('GET', `/api/v1/plugins/${p.id}`)).body;
    assert.deepEqual(
      { name: after.name, type: after.type, config: after.config, builtin: after.builtin },
      { name: p.name, type: p.type, config: p.config, builtin: true },
    );
  }
});
