import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { createWinrmClient, WinrmAuthError, WinrmConnectError } from '../../../agent/winrm/index.ts';
import { HttpConnection } from '../../../agent/winrm/http-connection.ts';

// Discovery probes whatever listens on 5985/5986; an impostor must not make the agent buffer gigabytes.
let answer: (sock: net.Socket) => void = () => {};
let server: net.Server;
let port = 0;
before(async () => {
  server = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.once('data', () => answer(sock));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test('a declared Content-Length beyond the limit is refused from the head, before any body arrives', async () => {
  answer = (sock) =>
    sock.write('HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: 10000000000\r\n\r\n');
  const client = createWinrmClient({
    host: '127.0.0.1',
    port,
    auth: 'basic',
    username: 'u',
    password: 'p',
    encryption: 'never',
  });
  try {
    await assert.rejects(
      client.identify(),
      (e: unknown) => e instanceof WinrmConnectError && e.code === 'bad_http' && /larger than 32 MiB/.test(e.message),
      'bad_http, too large',
    );
  } finally {
    client.close();
  }
});

test('a body streamed without end is cut off at the limit and the socket closed', async () => {
  let written = 0;
  answer = (sock) => {
    sock.write('HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pump = (): void => {
      while (!sock.destroyed && written < 64 * 1024 * 1024) {
        written += chunk.length;
        if (!sock.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`, 'latin1'))
          return void sock.once('drain', pump);
      }
    };
    pump();
  };
  const conn = await HttpConnection.open({
    host: '127.0.0.1',
    port,
    https: false,
    tls: { mode: 'verify' },
    connectTimeoutMs: 2000,
    maxResponseBytes: 1024 * 1024,
  });
  await assert.rejects(
    conn.request('POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', Buffer.alloc(0), 10_000),
    (e: unknown) => e instanceof WinrmConnectError && e.code === 'bad_http',
    'bad_http',
  );
  assert.equal(conn.alive, false, 'the connection is closed');
  assert.ok(written < 64 * 1024 * 1024, `the server was stopped early (${written} bytes written)`);
});

test('Basic is never sent in clear text over HTTP unless the caller allows unencrypted traffic', async () => {
  let requests = 0;
  answer = (sock) => {
    requests++;
    sock.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
  };
  const client = createWinrmClient({
    host: '127.0.0.1',
    port,
    auth: 'basic',
    username: 'u',
    password: 'Clear-Text-pw',
  });
  try {
    await assert.rejects(
      client.enumerate('SELECT * FROM Win32_OperatingSystem'),
      (e: unknown) =>
        e instanceof WinrmAuthError && e.code === 'basic_over_http' && !e.message.includes('Clear-Text-pw'),
      'refused before sending',
    );
    assert.equal(requests, 0, 'no request reached the host');
  } finally {
    client.close();
  }
});
