import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createWinrmClient, type WinrmClientOptions } from '../../../agent/winrm/client.ts';
import {
  WinrmAuthError,
  WinrmConnectError,
  WinrmFaultError,
  WinrmInvalidClassError,
  WinrmQuotaError,
  WinrmTimeoutError,
  WinrmTlsError,
} from '../../../agent/winrm/errors.ts';
import { wmiBigInt, wmiString } from '../../../agent/winrm/wmi-instance.ts';
import { hasFixture } from '../../helpers/fixtures.ts';
import { skipUnlessRequired } from '../../helpers/skip.ts';
import { reply, startReplayServer, type ReplayHandler, type ReplayServer } from './replay-server.ts';

// Client behaviour against real HTTPS on loopback replaying captured Windows answers.

let handler: ReplayHandler = () => ({ status: 500, xml: '' });
let srv: ReplayServer;

before(async () => {
  srv = await startReplayServer({ https: true, handler: (r) => handler(r) });
});
after(async () => {
  await srv.close();
});

const options = (extra: Partial<WinrmClientOptions> = {}): WinrmClientOptions => ({
  host: '127.0.0.1',
  port: srv.port,
  https: true,
  auth: 'basic',
  username: 'admin',
  password: 'secret',
  tls: { mode: 'verify', ca: srv.certPem },
  ...extra,
});

// These answers are GPL txwinrm captures, read in place from ../shared (never copied into the project).
const GPL_CAPTURES = [0, 1, 2]
  .map((i) => `winrm/enumerate_win32_perfrawdata_perfproc_process_win2008r2_star_page${i}_response.xml`)
  .concat('winrm/fault_max_concurrent_operations_2150859174_response.xml');
const gplSkip = skipUnlessRequired(
  GPL_CAPTURES.every(hasFixture)
    ? undefined
    : 'needs the GPL txwinrm captures in ../shared/fixtures/winrm/ (not copied into the project)',
);

const pagedProcess: ReplayHandler = (r) => {
  if (r.action === 'Enumerate')
    return reply('enumerate_win32_perfrawdata_perfproc_process_win2008r2_star_page0_response.xml', r);
  if (r.action === 'Pull' && r.xml.includes('uuid:6D1F923E-81AF-4041-8957-49A793641040'))
    return reply('enumerate_win32_perfrawdata_perfproc_process_win2008r2_star_page1_response.xml', r);
  if (r.action === 'Pull' && r.xml.includes('uuid:64368224-8269-4FD5-A8AD-DF482A58279A'))
    return reply('enumerate_win32_perfrawdata_perfproc_process_win2008r2_star_page2_response.xml', r);
  return reply('fault_get_shell_invalid_selectors_2150858843_response.xml', r, 500);
};

describe('WinRM client over HTTPS with Basic', () => {
  test('enumerates through Pull pages with the latest context, on one kept-alive connection', {
    skip: gplSkip,
  }, async () => {
    handler = pagedProcess;
    const start = srv.requests.length;
    const conns = srv.connections();
    const client = createWinrmClient(options());
    try {
      const items = await client.enumerate('SELECT * FROM Win32_PerfRawData_PerfProc_Process');
      assert.equal(items.length, 1 + 37 + 5);
      assert.equal(wmiString(items[0], 'Name'), 'Idle');
      const total = items.find((i) => wmiString(i, 'Name') === '_Total');
      assert.equal(wmiBigInt(total, 'Timestamp_Sys100NS'), 130105311790194745n);
      const reqs = srv.requests.slice(start);
      assert.deepEqual(
        reqs.map((r) => r.action),
        ['Enumerate', 'Pull', 'Pull'],
      );
      assert.match(
        reqs[0]!.xml,
        /<w:Filter Dialect="http:\/\/schemas.microsoft.com\/wbem\/wsman\/1\/WQL">SELECT \* FROM Win32_PerfRawData_PerfProc_Process<\/w:Filter>/,
      );
      assert.match(reqs[0]!.xml, /<w:OptimizeEnumeration\/>/);
      assert.match(reqs[0]!.xml, /wmi\/root\/cimv2\/\*<\/w:ResourceURI>/);
      assert.equal(srv.connections() - conns, 1);
      assert.equal(client.stats.roundTrips, 3);
    } finally {
      client.close();
    }
  });

  test('a Pull fault releases the enumeration and surfaces the typed error', { skip: gplSkip }, async () => {
    handler = (r) => {
      if (r.action === 'Enumerate') return reply('enumerate_win32_process_win2008r2_response.xml', r);
      if (r.action === 'Pull') return reply('fault_max_concurrent_operations_2150859174_response.xml', r, 500);
      return { xml: `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>` };
    };
    const start = srv.requests.length;
    const client = createWinrmClient(options());
    try {
      await assert.rejects(
        client.enumerate('SELECT * FROM Win32_Process'),
        (e: unknown) => e instanceof WinrmQuotaError && e.code === '2150859174',
      );
      const reqs = srv.requests.slice(start);
      assert.deepEqual(
        reqs.map((r) => r.action),
        ['Enumerate', 'Pull', 'Release'],
      );
      assert.match(reqs[2]!.xml, /uuid:12AE5286-91FE-48F3-937E-0C22FF1AD7A1/);
    } finally {
      client.close();
    }
  });

  test('a Pull that times out (w:TimedOut, 2150858793) is asked again with the same context, not abandoned', {
    skip: gplSkip,
  }, async () => {
    let timeouts = 0;
    handler = (r) => {
      if (r.action === 'Pull' && r.xml.includes('uuid:6D1F923E-81AF-4041-8957-49A793641040') && timeouts < 2) {
        timeouts++;
        return reply('fault_receive_operation_timeout_2150858793_response.xml', r, 500);
      }
      return pagedProcess(r);
    };
    const start = srv.requests.length;
    const client = createWinrmClient(options());
    try {
      const items = await client.enumerate('SELECT * FROM Win32_PerfRawData_PerfProc_Process');
      assert.equal(items.length, 1 + 37 + 5, 'every page arrives');
      assert.deepEqual(
        srv.requests.slice(start).map((r) => r.action),
        ['Enumerate', 'Pull', 'Pull', 'Pull', 'Pull'],
        'two retried Pulls, no Release',
      );
    } finally {
      client.close();
    }
  });

  test('an invalid class comes back as WinrmInvalidClassError with its code', async () => {
    handler = (r) => reply('fault_enumerate_invalid_class_2150858778_response.xml', r, 500);
    const client = createWinrmClient(options());
    try {
      await assert.rejects(client.enumerate('SELECT * FROM Win32_Processa'), (e: unknown) => {
        assert.ok(e instanceof WinrmInvalidClassError);
        assert.equal(e.code, '2150858778');
        assert.equal(e.toFailure().class, 'winrm_fault');
        return true;
      });
    } finally {
      client.close();
    }
  });

  test('a wrong password is an authentication failure, and the password is not in the message', async () => {
    handler = (r) => reply('identify_response_win2012r2_stack3.xml', r);
    const client = createWinrmClient(options({ password: 'hunter2-wrong' }));
    try {
      await assert.rejects(client.identify(), (e: unknown) => {
        assert.ok(e instanceof WinrmAuthError);
        assert.equal(e.toFailure().class, 'auth');
        assert.ok(!e.message.includes('hunter2'));
        return true;
      });
    } finally {
      client.close();
    }
  });

  test('anonymous Identify sends WSMANIDENTIFY and no credentials', async () => {
    handler = (r) => reply('identify_response_win2008r2_stack2.xml', r);
    const start = srv.requests.length;
    const client = createWinrmClient(options({ password: 'not-used' }));
    try {
      const id = await client.identify({ anonymous: true });
      assert.equal(id.productVendor, 'Microsoft Corporation');
      assert.equal(id.stackVersion, '2.0');
      const req = srv.requests[start]!;
      assert.equal(req.headers.wsmanidentify, 'unauthenticated');
      assert.equal(req.headers.authorization, undefined);
    } finally {
      client.close();
    }
  });

  test('kept-alive connections are reused, and replaced transparently when the host closes them', async () => {
    handler = (r) => reply('identify_response_win2012r2_stack3.xml', r);
    const conns = srv.connections();
    const client = createWinrmClient(options());
    try {
      for (let i = 0; i < 4; i++) await client.identify();
      assert.equal(srv.connections() - conns, 1);
      srv.dropIdle();
      await new Promise((r) => setTimeout(r, 20));
      await client.identify();
      assert.equal(srv.connections() - conns, 2);
    } finally {
      client.close();
    }
  });

  test('concurrent requests never exceed the per-target connection cap', async () => {
    handler = (r) => reply('identify_response_win2012r2_stack3.xml', r);
    const conns = srv.connections();
    const client = createWinrmClient(options({ maxConnections: 2 }));
    try {
      await Promise.all(Array.from({ length: 8 }, () => client.identify()));
      assert.equal(srv.connections() - conns, 2);
      assert.equal(client.stats.roundTrips, 8);
    } finally {
      client.close();
    }
  });

  test('a response relating to another MessageID is refused', async () => {
    handler = (r) => {
      const a = reply('shell_create_response.xml', r);
      return typeof a === 'string'
        ? a
        : { ...a, xml: a.xml.replace(r.messageId, 'uuid:00000000-0000-4000-8000-000000000000') };
    };
    const client = createWinrmClient(options());
    try {
      await assert.rejects(client.shell(), (e: unknown) => e instanceof WinrmFaultError && e.code === 'relates_to');
    } finally {
      client.close();
    }
  });

  test('a command runs through the shell lifecycle and retries Receive on OperationTimeout', async () => {
    let receives = 0;
    handler = (r) => {
      switch (r.action) {
        case 'Create':
          return reply('shell_create_response.xml', r);
        case 'Command':
          return reply('shell_command_response.xml', r);
        case 'Receive':
          receives++;
          return receives === 1
            ? reply('fault_receive_operation_timeout_2150858793_response.xml', r, 500)
            : reply('shell_receive_response_echo_hi_done.xml', r);
        case 'Signal':
          return reply('shell_signal_response.xml', r);
        case 'Delete':
          return reply('shell_delete_response.xml', r);
        default:
          return reply('fault_receive_invalid_parameter_87_response.xml', r, 500);
      }
    };
    const start = srv.requests.length;
    const client = createWinrmClient(options());
    try {
      const res = await client.runCommand('cmd.exe', ['/c', 'echo', 'hi']);
      assert.deepEqual(res, { exitCode: 0, stdout: 'hi\r\n', stderr: '' });
      const reqs = srv.requests.slice(start);
      assert.deepEqual(
        reqs.map((r) => r.action),
        ['Create', 'Command', 'Receive', 'Receive', 'Signal', 'Delete'],
      );
      assert.match(reqs[0]!.xml, /<w:Option Name="WINRS_CODEPAGE">65001<\/w:Option>/);
      assert.match(reqs[0]!.xml, /<w:Option Name="WINRS_NOPROFILE">TRUE<\/w:Option>/);
      assert.match(reqs[1]!.xml, /<w:Selector Name="ShellId">4283CBDC-3706-415B-88BD-B385F3E51A53<\/w:Selector>/);
      assert.match(reqs[1]!.xml, /<rsp:Command>cmd.exe<\/rsp:Command><rsp:Arguments>\/c<\/rsp:Arguments>/);
      assert.match(
        reqs[2]!.xml,
        /<rsp:DesiredStream CommandId="CF84C20A-0A35-43FA-AF78-0B4711DA5F30">stdout stderr<\/rsp:DesiredStream>/,
      );
      assert.match(reqs[4]!.xml, /signal\/terminate/);
    } finally {
      client.close();
    }
  });

  test('runPowerShell sends -EncodedCommand and strips CLIXML from stderr', async () => {
    handler = (r) => {
      switch (r.action) {
        case 'Create':
          return reply('shell_create_response.xml', r);
        case 'Command': {
          // The capture's streams belong to command 1111…124; hand out that id.
          const a = reply('shell_command_response.xml', r) as { xml: string };
          return { xml: a.xml.replace('CF84C20A-0A35-43FA-AF78-0B4711DA5F30', '11111111-1111-1111-1111-111111111124') };
        }
        case 'Receive':
          return reply('shell_receive_response_powershell_write_error_clixml_exit1.xml', r);
        case 'Signal':
          return reply('shell_signal_response.xml', r);
        default:
          return reply('shell_delete_response.xml', r);
      }
    };
    const start = srv.requests.length;
    const client = createWinrmClient(options());
    try {
      const res = await client.runPowerShell('Write-Error "Error"');
      assert.equal(res.exitCode, 1);
      assert.match(res.stderr, /^Write-Error "Error" : Error/);
      assert.ok(!res.stderr.includes('CLIXML'));
      const create = srv.requests.slice(start).find((r) => r.action === 'Create')!;
      assert.match(
        create.xml,
        /<rsp:IdleTimeOut>PT300S<\/rsp:IdleTimeOut>/,
        'a lost Delete leaves the shell for 5 minutes, not 2 hours',
      );
      const cmd = srv.requests.slice(start).find((r) => r.action === 'Command')!;
      const encoded = /<rsp:Arguments>-EncodedCommand<\/rsp:Arguments><rsp:Arguments>([^<]+)</.exec(cmd.xml)?.[1];
      assert.ok(encoded);
      assert.match(Buffer.from(encoded, 'base64').toString('utf16le'), /Write-Error "Error"$/);
    } finally {
      client.close();
    }
  });
});

describe('WinRM client TLS modes and network failures', () => {
  test('verify refuses an unknown self-signed certificate', async () => {
    handler = (r) => reply('identify_response_win2012r2_stack3.xml', r);
    const client = createWinrmClient(options({ tls: { mode: 'verify' } }));
    try {
      await assert.rejects(
        client.identify(),
        (e: unknown) => e instanceof WinrmTlsError && e.toFailure().class === 'tls',
      );
    } finally {
      client.close();
    }
  });

  test('pin accepts the right SHA-256 fingerprint and refuses another', async () => {
    handler = (r) => reply('identify_response_win2012r2_stack3.xml', r);
    const good = createWinrmClient(
      options({ tls: { mode: 'pin', fingerprint: srv.fingerprint.toUpperCase().replace(/(..)(?!$)/g, '$1:') } }),
    );
    const bad = createWinrmClient(options({ tls: { mode: 'pin', fingerprint: 'ab'.repeat(32) } }));
    try {
      assert.equal((await good.identify()).stackVersion, '3.0');
      await assert.rejects(
        bad.identify(),
        (e: unknown) => e instanceof WinrmTlsError && e.code === 'fingerprint_mismatch',
      );
    } finally {
      good.close();
      bad.close();
    }
  });

  test('insecure accepts any certificate when asked explicitly', async () => {
    handler = (r) => reply('identify_response_win2012r2_stack3.xml', r);
    const client = createWinrmClient(options({ tls: { mode: 'insecure' } }));
    try {
      assert.equal((await client.identify()).productVendor, 'Microsoft Corporation');
    } finally {
      client.close();
    }
  });

  test('a closed port is WinrmConnectError (unreachable)', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const client = createWinrmClient(options({ port }));
    try {
      await assert.rejects(
        client.identify(),
        (e: unknown) =>
          e instanceof WinrmConnectError && e.code === 'ECONNREFUSED' && e.toFailure().class === 'unreachable',
      );
    } finally {
      client.close();
    }
  });

  test('a host that never answers hits the read timeout', async () => {
    handler = () => 'hang';
    const client = createWinrmClient(options({ timeouts: { connectMs: 1000, readMs: 300, operationSec: 0.1 } }));
    try {
      await assert.rejects(
        client.identify(),
        (e: unknown) => e instanceof WinrmTimeoutError && e.toFailure().class === 'timeout',
      );
    } finally {
      client.close();
    }
  });

  test('a connection dropped mid-request is an unreachable failure, not a crash', async () => {
    handler = () => 'drop';
    const client = createWinrmClient(options());
    try {
      await assert.rejects(client.identify(), (e: unknown) => e instanceof WinrmConnectError);
    } finally {
      client.close();
    }
  });
});
