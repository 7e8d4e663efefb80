import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { createWinrmClient } from '../../../agent/winrm/client.ts';
import { WinrmTlsError } from '../../../agent/winrm/errors.ts';
import { startWinsim, type Winsim } from '../../winsim/index.ts';

// Issue 13, finding 11: someone on the path between the agent and a host lets the NTLM handshake
// through, then answers the sealed request with a plain HTTP 200 of its own. The agent negotiated
// sealing, so anything not sealed is refused instead of being read as the host's answer.

const FAKE = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action><a:MessageID>uuid:00000000-0000-0000-0000-000000000001</a:MessageID></s:Header><s:Body><n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext><w:Items><p:Win32_ComputerSystem xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_ComputerSystem"><p:Name>FORGED-BY-THE-PATH</p:Name></p:Win32_ComputerSystem></w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>`;

let sim: Winsim;
let proxy: http.Server;
let proxyPort: number;
let forged = 0;
let forgedStatus = 200;

before(async () => {
  sim = await startWinsim({ hosts: 1, portBase: 0, auth: 'ntlm', password: 'Unsealed-Pass-1', seed: 13 });
  const h = sim.hosts[0]!;
  // One upstream connection per client connection: NTLM authenticates the TCP connection.
  const agents = new Map<Socket, http.Agent>();
  proxy = http.createServer({ keepAlive: true }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const sealed = (req.headers['content-type'] ?? '').toLowerCase().includes('multipart/encrypted');
      if (sealed) {
        forged++;
        const body = Buffer.from(FAKE, 'utf8');
        res.writeHead(forgedStatus, {
          'Content-Type': 'application/soap+xml;charset=UTF-8',
          'Content-Length': String(body.length),
        });
        res.end(body);
        return;
      }
      let agent = agents.get(req.socket);
      if (!agent) {
        agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        agents.set(req.socket, agent);
        req.socket.on('close', () => agent!.destroy());
      }
      const up = http.request(
        { host: h.address, port: h.port, method: req.method, path: req.url, headers: req.headers, agent },
        (ur) => {
          const body: Buffer[] = [];
          ur.on('data', (c: Buffer) => body.push(c));
          ur.on('end', () => {
            const b = Buffer.concat(body);
            const headers = { ...ur.headers, 'content-length': String(b.length) };
            delete headers['transfer-encoding'];
            res.writeHead(ur.statusCode ?? 502, headers);
            res.end(b);
          });
        },
      );
      up.on('error', () => res.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyPort = (proxy.address() as AddressInfo).port;
});
after(async () => {
  proxy.closeAllConnections();
  await new Promise<void>((r) => proxy.close(() => r()));
  await sim.stop();
});

test('over NTLM on HTTP a plain 200 after a sealed request is refused as tls, never read as the host answer', async () => {
  const h = sim.hosts[0]!;
  const direct = createWinrmClient({
    host: h.address,
    port: h.port,
    https: false,
    auth: 'ntlm',
    username: h.user,
    password: h.password,
  });
  const viaPath = createWinrmClient({
    host: '127.0.0.1',
    port: proxyPort,
    https: false,
    auth: 'ntlm',
    username: h.user,
    password: h.password,
  });
  try {
    assert.equal(viaPath.encrypted, true, 'NTLM over HTTP seals by default');
    const real = await direct.enumerate('SELECT Name FROM Win32_ComputerSystem');
    assert.equal(real.length, 1, 'the host itself answers sealed and is read');

    await assert.rejects(viaPath.enumerate('SELECT Name FROM Win32_ComputerSystem'), (err: unknown) => {
      assert.ok(err instanceof WinrmTlsError, `expected WinrmTlsError, got ${String(err)}`);
      assert.equal(err.failureClass, 'tls');
      assert.equal(err.code, 'ntlm_unsealed');
      assert.match(err.message, /not sealed/);
      return true;
    });
    assert.equal(forged, 1, 'the forged answer was sent once');
    // The connection is not reused: the next request authenticates a fresh one and is refused again.
    await assert.rejects(viaPath.enumerate('SELECT Name FROM Win32_ComputerSystem'), WinrmTlsError);
    assert.equal(viaPath.stats.handshakes, 2);
  } finally {
    direct.close();
    viaPath.close();
  }
});

test('a plain 500 (a forged SOAP fault) on a sealed connection is refused the same way', async () => {
  const h = sim.hosts[0]!;
  const viaPath = createWinrmClient({
    host: '127.0.0.1',
    port: proxyPort,
    https: false,
    auth: 'ntlm',
    username: h.user,
    password: h.password,
  });
  forgedStatus = 500;
  try {
    await assert.rejects(
      viaPath.enumerate('SELECT Name FROM Win32_ComputerSystem'),
      (err: unknown) => err instanceof WinrmTlsError && err.code === 'ntlm_unsealed' && /HTTP 500/.test(err.message),
    );
  } finally {
    forgedStatus = 200;
    viaPath.close();
  }
});
