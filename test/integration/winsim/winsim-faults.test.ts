import assert from 'node:assert/strict';
import type { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { startWinsim, type Winsim } from '../../winsim/index.ts';
import { basic, enumerateXml, post, text } from './wsman-raw.ts';

const OS_QUERY = enumerateXml('SELECT * FROM Win32_OperatingSystem', { maxElements: 32000 });

describe('winsim fault injection', () => {
  let sim: Winsim;
  before(async () => {
    sim = await startWinsim({ hosts: 2, portBase: 0, auth: 'both', seed: 3 });
  });
  after(async () => {
    await sim.stop();
  });
  const h = () => sim.hosts[0]!;
  const auth = () => basic(h().user, h().password);
  const reset = () =>
    h().setFault({
      wrongPassword: false,
      accessDenied: false,
      latencyMs: 0,
      timeout: false,
      http500: false,
      dropConnections: false,
      unencryptedRefused: false,
      portClosed: false,
    });

  test('over HTTP a plain SOAP request is refused with 401 by default (AllowUnencrypted=false)', async () => {
    assert.equal(h().faults().unencryptedRefused, true);
    const res = await post(h().url, OS_QUERY, { headers: auth() });
    assert.equal(res.status, 401);
    assert.equal(res.body, '');
    await h().setFault({ unencryptedRefused: false });
    assert.equal((await post(h().url, OS_QUERY, { headers: auth() })).status, 200);
  });

  test('wrong password: the right credentials are rejected with 401', async () => {
    await reset();
    await h().setFault({ wrongPassword: true });
    const res = await post(h().url, OS_QUERY, { headers: auth() });
    assert.equal(res.status, 401);
    assert.match(String(res.headers['www-authenticate']), /Basic realm="WSMAN"/);
    await reset();
    assert.equal((await post(h().url, OS_QUERY, { headers: auth() })).status, 200);
  });

  test('a password that is simply wrong is rejected with 401', async () => {
    await reset();
    const res = await post(h().url, OS_QUERY, { headers: basic(h().user, 'nope') });
    assert.equal(res.status, 401);
  });

  test('access denied: authenticated, then the w:AccessDenied fault with HTTP 500', async () => {
    await reset();
    await h().setFault({ accessDenied: true });
    const res = await post(h().url, OS_QUERY, { headers: auth() });
    assert.equal(res.status, 500);
    assert.match(res.body, /<s:Value>w:AccessDenied<\/s:Value>/);
    assert.match(res.body, /Code="5"/);
    await reset();
  });

  test('HTTP 500 faults carry a WSManFault code, custom or the default generic failure', async () => {
    await reset();
    await h().setFault({ http500: true });
    let res = await post(h().url, OS_QUERY, { headers: auth() });
    assert.equal(res.status, 500);
    assert.match(res.body, /Code="2147749889"/);
    await h().setFault({
      http500: {
        code: 2150859174,
        subcode: 'w:InternalError',
        message: 'The maximum number of concurrent operations for this user has been exceeded. ',
      },
    });
    res = await post(h().url, OS_QUERY, { headers: auth() });
    assert.match(res.body, /Code="2150859174"/);
    await reset();
  });

  test('latency delays every answer', async () => {
    await reset();
    await h().setFault({ latencyMs: 150 });
    const started = performance.now();
    const res = await post(h().url, OS_QUERY, { headers: auth() });
    assert.equal(res.status, 200);
    assert.ok(performance.now() - started >= 140);
    await reset();
  });

  test('timeout: the request is never answered within the read timeout', async () => {
    await reset();
    await h().setFault({ timeout: true });
    await assert.rejects(post(h().url, OS_QUERY, { headers: auth(), timeoutMs: 300 }), /read timeout/);
    await reset();
  });

  test('dropped connection: the socket is destroyed mid-request', async () => {
    await reset();
    await h().setFault({ dropConnections: true });
    await assert.rejects(
      post(h().url, OS_QUERY, { headers: auth() }),
      (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' || /socket hang up/.test(err.message),
    );
    await reset();
  });

  test('port closed refuses connections until reopened on the same port', async () => {
    await reset();
    const port = h().port;
    await h().setFault({ portClosed: true });
    await assert.rejects(
      post(h().url, OS_QUERY, { headers: auth() }),
      (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
    );
    await h().setFault({ portClosed: false });
    assert.equal(h().port, port);
    assert.equal((await post(h().url, OS_QUERY, { headers: auth() })).status, 200);
  });

  test('faults on one host leave the others alone', async () => {
    await h().setFault({ http500: true });
    const other = sim.hosts[1]!;
    await other.setFault({ unencryptedRefused: false });
    const res = await post(other.url, OS_QUERY, { headers: basic(other.user, other.password) });
    assert.equal(res.status, 200);
    assert.equal(text(res.body, 'p:CSName'), other.hostname);
    await reset();
  });
});

describe('winsim over HTTPS', () => {
  let sim: Winsim;
  before(async () => {
    sim = await startWinsim({ hosts: 2, portBase: 0, auth: 'basic', https: true, seed: 5 });
  });
  after(async () => {
    await sim.stop();
  });

  test('serves a self-signed certificate whose SHA-256 fingerprint is exposed', async () => {
    const h = sim.hosts[0]!;
    assert.ok(h.fingerprint && h.fingerprint === sim.fingerprint);
    const peer = await new Promise<X509Certificate>((resolve, reject) => {
      const s = connect({ host: h.address, port: h.port, rejectUnauthorized: false }, () => {
        resolve(s.getPeerX509Certificate()!);
        s.end();
      });
      s.on('error', reject);
    });
    assert.equal(peer.fingerprint256, h.fingerprint);
  });

  test('Basic over HTTPS is accepted unencrypted at the message level', async () => {
    const h = sim.hosts[1]!;
    assert.equal(h.tls, true);
    assert.equal(h.faults().unencryptedRefused, false);
    const res = await post(h.url, OS_QUERY, { headers: basic(h.user, h.password) });
    assert.equal(res.status, 200);
    assert.equal(text(res.body, 'p:CSName'), h.hostname);
  });
});
