import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { after, before, test } from 'node:test';
import { startWinsim, type Winsim } from '../../winsim/index.ts';
import { enumerateXml, post } from './wsman-raw.ts';

// Wire-level checks of the Negotiate handshake that need no NTLM client (the full handshake with
// sealing is proven by the pywinrm interop test).
let sim: Winsim;
before(async () => {
  sim = await startWinsim({ hosts: 1, portBase: 0, auth: 'ntlm', seed: 4 });
});
after(async () => {
  await sim.stop();
});

// NEGOTIATE with the flags pywinrm's ntlm-auth sends (0xe28a8233 minus OEM domain/workstation fields).
const NEGOTIATE = Buffer.from(
  '4e544c4d5353500001000000338a8ae2000000000000000000000000000000000a00614a0000000f',
  'hex',
);

test('a NEGOTIATE gets a 401 CHALLENGE on a kept-alive connection, offering sealing and naming the host', async () => {
  const h = sim.hosts[0]!;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const res = await post(h.url, '', {
      agent,
      headers: { Authorization: `Negotiate ${NEGOTIATE.toString('base64')}` },
    });
    assert.equal(res.status, 401);
    assert.notEqual(res.headers.connection, 'close');
    const m = /^Negotiate (\S+)$/.exec(String(res.headers['www-authenticate']));
    assert.ok(m, 'one Negotiate token');
    const challenge = Buffer.from(m[1]!, 'base64');
    assert.equal(challenge.subarray(0, 8).toString('latin1'), 'NTLMSSP\0');
    assert.equal(challenge.readUInt32LE(8), 2);
    const flags = challenge.readUInt32LE(20);
    for (const bit of [0x1, 0x10, 0x20, 0x200, 0x80000, 0x800000, 0x20000000, 0x40000000])
      assert.ok(flags & bit, `flag ${bit.toString(16)}`);
    const targetName = challenge
      .subarray(challenge.readUInt32LE(16), challenge.readUInt32LE(16) + challenge.readUInt16LE(12))
      .toString('utf16le');
    assert.equal(targetName, h.hostname.toUpperCase());
  } finally {
    agent.destroy();
  }
});

test('Basic is not offered or accepted by an NTLM-only host', async () => {
  const h = sim.hosts[0]!;
  const res = await post(h.url, enumerateXml('SELECT * FROM Win32_OperatingSystem'), {
    headers: { Authorization: `Basic ${Buffer.from(`${h.user}:${h.password}`).toString('base64')}` },
  });
  assert.equal(res.status, 401);
  assert.equal(res.headers['www-authenticate'], 'Negotiate, Kerberos');
});

test('an AUTHENTICATE on a connection that never got a CHALLENGE is refused (auth is bound to the socket)', async () => {
  const h = sim.hosts[0]!;
  const a1 = new Agent({ keepAlive: true, maxSockets: 1 });
  const a2 = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await post(h.url, '', { agent: a1, headers: { Authorization: `Negotiate ${NEGOTIATE.toString('base64')}` } });
    const type3 = Buffer.alloc(88);
    type3.write('NTLMSSP\0', 0, 'latin1');
    type3.writeUInt32LE(3, 8);
    const res = await post(h.url, '', {
      agent: a2,
      headers: { Authorization: `Negotiate ${type3.toString('base64')}` },
    });
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Negotiate, Kerberos');
  } finally {
    a1.destroy();
    a2.destroy();
  }
});
