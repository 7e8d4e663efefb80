import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WinrmClient, WinrmClientOptions } from '../winrm/index.ts';
import type { CredentialPayload } from '../../shared/protocol/index.ts';
import { ClassifiedError } from '../failure.ts';
import { createWinrmClientCache } from './winrm-client-cache.ts';

function fakes() {
  const made: { options: WinrmClientOptions; closed: boolean }[] = [];
  const create = (options: WinrmClientOptions): WinrmClient => {
    const rec = { options, closed: false };
    made.push(rec);
    return { close: () => void (rec.closed = true) } as unknown as WinrmClient;
  };
  return { made, create };
}

const target = { ip: '127.0.0.5', port: 5986, use_ssl: true };
const cred: CredentialPayload = {
  type: 'winrm_ntlm',
  username: 'CORP\\svc',
  password: 'pw-1',
  tls_verify: 'pin',
  tls_fingerprint: 'ab'.repeat(32),
};

test('one client per target and credential, rebuilt when the password changes', () => {
  const { made, create } = fakes();
  const cache = createWinrmClientCache({ create });
  cache.acquire(target, cred).release();
  cache.acquire(target, cred).release();
  assert.equal(made.length, 1);
  assert.deepEqual(
    {
      auth: made[0]!.options.auth,
      https: made[0]!.options.https,
      port: made[0]!.options.port,
      tls: made[0]!.options.tls,
    },
    { auth: 'ntlm', https: true, port: 5986, tls: { mode: 'pin', fingerprint: 'ab'.repeat(32) } },
  );
  cache.acquire(target, { ...cred, password: 'pw-2' }).release();
  cache.acquire({ ...target, ip: '127.0.0.6' }, cred).release();
  assert.equal(made.length, 3);
  cache.close();
  assert.ok(made.every((m) => m.closed));
  assert.equal(cache.size, 0);
});

test('a broken lease closes and forgets its client; a job without a credential is an auth failure', () => {
  const { made, create } = fakes();
  const cache = createWinrmClientCache({ create });
  cache.acquire(target, cred).release(true);
  assert.equal(made[0]!.closed, true);
  cache.acquire(target, cred).release();
  assert.equal(made.length, 2);
  assert.throws(
    () => cache.acquire(target, null),
    (e: unknown) => e instanceof ClassifiedError && e.failureClass === 'auth' && !e.retryable,
  );
  cache.close();
});

test('idle clients are closed by the sweep, busy ones are kept', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const { made, create } = fakes();
  const cache = createWinrmClientCache({ create, idleMs: 1000 });
  cache.acquire(target, cred).release();
  const busy = cache.acquire({ ...target, ip: '127.0.0.9' }, cred);
  t.mock.timers.tick(2500);
  assert.equal(made[0]!.closed, true);
  assert.equal(made[1]!.closed, false);
  assert.equal(cache.size, 1);
  busy.release();
  cache.close();
});

test('a lease that breaks while another job uses the same client evicts it at once but closes it only when that job is done', () => {
  const { made, create } = fakes();
  const cache = createWinrmClientCache({ create });
  const a = cache.acquire(target, cred);
  const b = cache.acquire(target, cred);
  a.release(true); // a's job was aborted
  assert.equal(made[0]!.closed, false, "b's poll keeps its client");
  const c = cache.acquire(target, cred);
  assert.equal(made.length, 2, 'a new job gets a fresh client');
  b.release();
  assert.equal(made[0]!.closed, true, 'closed once b is done');
  c.release();
  assert.equal(made[1]!.closed, false, 'the fresh one stays warm');
  cache.close();
  assert.equal(made[1]!.closed, true, 'closing the cache closes everything');
});
