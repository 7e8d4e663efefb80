import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, isAgentEnv, loadAgentConfig, loadProxySettings } from '../config.ts';
import { DIRECT, proxyFor } from './proxy.ts';

const PROXY = 'http://proxy.corp:3128';
/** Where `NO_PROXY=entry` sends a connection to `server`: 'proxy' or 'direct'. */
const route = (server: string, noProxy: string): 'proxy' | 'direct' =>
  proxyFor(new URL(server), loadProxySettings({ HTTPS_PROXY: PROXY, NO_PROXY: noProxy })) ? 'proxy' : 'direct';

test('NO_PROXY entries match as curl does: *, host and its subdomains, .suffix, *.suffix, host:port', () => {
  const cases: [server: string, noProxy: string, expected: 'proxy' | 'direct'][] = [
    ['wss://nms.example.com:8443', '', 'proxy'],
    ['wss://nms.example.com:8443', '*', 'direct'],
    // A plain entry is that host and its subdomains, as in curl.
    ['wss://nms.example.com:8443', 'nms.example.com', 'direct'],
    ['wss://nms.example.com:8443', 'NMS.Example.COM', 'direct'],
    ['wss://nms.example.com:8443', 'example.com', 'direct'],
    ['wss://example.com:8443', 'example.com', 'direct'],
    ['wss://notexample.com:8443', 'example.com', 'proxy'],
    // A leading dot: the same (curl); *. : the subdomains only.
    ['wss://nms.example.com:8443', '.example.com', 'direct'],
    ['wss://a.b.example.com:8443', '.example.com', 'direct'],
    ['wss://example.com:8443', '.example.com', 'direct'],
    ['wss://nms.example.com:8443', '*.example.com', 'direct'],
    ['wss://nms.example.org:8443', '*.example.com', 'proxy'],
    // host:port matches that port only; a URL without a port is 443.
    ['wss://nms.example.com:8443', 'nms.example.com:8443', 'direct'],
    ['wss://nms.example.com:9443', 'nms.example.com:8443', 'proxy'],
    ['wss://nms.example.com', 'nms.example.com:443', 'direct'],
    ['https://nms.example.com', 'nms.example.com:8443', 'proxy'],
    ['wss://nms.example.com:8443', '.example.com:8443', 'direct'],
    // Addresses, and lists separated by commas and/or spaces.
    ['wss://10.0.0.5:8443', '10.0.0.5', 'direct'],
    ['wss://10.0.0.50:8443', '10.0.0.5', 'proxy'],
    ['wss://[::1]:8443', '[::1]', 'direct'],
    ['wss://nms.example.com:8443', 'localhost, 127.0.0.1 .example.com', 'direct'],
    ['wss://nms.example.com:8443', 'localhost,,127.0.0.1', 'proxy'],
  ];
  for (const [server, noProxy, expected] of cases)
    assert.equal(route(server, noProxy), expected, `${server} with NO_PROXY='${noProxy}'`);
});

test('the proxy comes from the parsed settings, never from this process environment, which is left as it was', () => {
  const before = { ...process.env };
  process.env.NO_PROXY = '*';
  process.env.https_proxy = 'http://other:1';
  try {
    const p = proxyFor(new URL('wss://nms.example.com:8443'), loadProxySettings({ HTTPS_PROXY: PROXY }));
    assert.equal(p?.href, `${PROXY}/`);
    assert.equal(proxyFor(new URL('wss://nms.example.com:8443'), DIRECT), undefined);
    assert.equal(process.env.NO_PROXY, '*');
    assert.equal(process.env.https_proxy, 'http://other:1');
    assert.equal(process.env.HTTPS_PROXY, before.HTTPS_PROXY);
    assert.equal(process.env.no_proxy, before.no_proxy);
  } finally {
    process.env = before;
  }
});

test('proxy variables are parsed once into typed settings; a bad one names the variable and hides its value', () => {
  assert.deepEqual(loadProxySettings({}), { no_proxy: '' });
  assert.deepEqual(loadProxySettings({ HTTPS_PROXY: 'proxy.corp:3128', no_proxy: '.corp' }), {
    https_proxy: 'http://proxy.corp:3128/',
    no_proxy: '.corp',
  });
  // The lowercase variable wins, as in curl and proxy-from-env.
  assert.equal(loadProxySettings({ https_proxy: 'http://a:1', HTTPS_PROXY: 'http://b:2' }).https_proxy, 'http://a:1/');
  assert.equal(loadProxySettings({ no_proxy: 'a', NO_PROXY: 'b' }).no_proxy, 'a');
  assert.equal(loadProxySettings({ https_proxy: '', HTTPS_PROXY: 'http://b:2' }).https_proxy, 'http://b:2/');
  assert.throws(() => loadProxySettings({ HTTPS_PROXY: 'https://proxy.corp:3128' }), {
    name: 'ConfigError',
    message: /invalid HTTPS_PROXY: must be an http:\/\/ proxy/,
  });
  assert.throws(() => loadProxySettings({ https_proxy: 'socks5://proxy.corp:1080' }), /invalid https_proxy/);
  assert.throws(
    () => loadProxySettings({ HTTPS_PROXY: 'http://user:s3cret@[bad' }),
    (e: Error) => e instanceof ConfigError && /is not a URL/.test(e.message) && !e.message.includes('s3cret'),
  );
  const cfg = loadAgentConfig({ home: '/tmp/x' }, { HTTPS_PROXY: PROXY, NO_PROXY: '*.corp' });
  assert.deepEqual(cfg.proxy, { https_proxy: `${PROXY}/`, no_proxy: '*.corp' });
  assert.ok(Object.isFrozen(cfg.proxy));
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy']) assert.ok(isAgentEnv(name), name);
});
