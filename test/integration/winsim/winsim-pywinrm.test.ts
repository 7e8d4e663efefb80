import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startWinsim, type Winsim } from '../../winsim/index.ts';
import { skipUnlessRequired } from '../../helpers/skip.ts';
import { ENUMERATE_WQL, pywinrmAvailable, RUN_CMD, runPywinrm } from './pywinrm.ts';

// Interop with a client written by others: Debian's python3-winrm (pywinrm 0.3.0 + requests-ntlm + ntlm-auth).
// CI installs it (.ci/run); locally: apt-get install -y python3-winrm.
const FROZEN = Date.UTC(2026, 10, 23, 12, 0, 0);
const available = await pywinrmAvailable();
const skip = skipUnlessRequired(
  available ? undefined : 'python3-winrm is not installed (apt-get install -y python3-winrm)',
);

describe('pywinrm against winsim', { skip }, () => {
  let basicSim: Winsim;
  let ntlmSim: Winsim;
  before(async () => {
    basicSim = await startWinsim({ hosts: 1, portBase: 0, auth: 'basic', seed: 11, clock: () => FROZEN });
    ntlmSim = await startWinsim({ hosts: 2, portBase: 0, auth: 'ntlm', seed: 12, clock: () => FROZEN });
  });
  after(async () => {
    await basicSim?.stop();
    await ntlmSim?.stop();
  });

  test('NTLM with message encryption over HTTP: run_cmd echo returns its stdout and exit code 0', async () => {
    const h = ntlmSim.hosts[0]!;
    assert.equal(h.faults().unencryptedRefused, true);
    const r = await runPywinrm(RUN_CMD, {
      ENDPOINT: h.url,
      USER: h.user,
      PASSWORD: h.password,
      TRANSPORT: 'ntlm',
      ENCRYPTION: 'always',
      COMMAND: 'echo',
      ARGS: 'hello from pywinrm',
    });
    assert.equal(r.std_err, '');
    assert.equal(r.std_out, 'hello from pywinrm\r\n');
    assert.equal(r.status_code, 0);
    // Create, Command, Receive, Signal, Delete: every one sealed, after one handshake.
    assert.equal(h.sim.stats.ntlmHandshakes, 1);
    assert.equal(h.sim.stats.encryptedRequests, 5);
    assert.equal(h.sim.stats.refusedUnencrypted, 0);
  });

  test('NTLM without message encryption is refused by a default host, as Windows does', async () => {
    const h = ntlmSim.hosts[1]!;
    const before = h.sim.stats.refusedUnencrypted;
    await assert.rejects(
      runPywinrm(RUN_CMD, {
        ENDPOINT: h.url,
        USER: h.user,
        PASSWORD: h.password,
        TRANSPORT: 'ntlm',
        ENCRYPTION: 'never',
        COMMAND: 'hostname',
        ARGS: '',
      }),
      /InvalidCredentialsError|credentials were rejected|401/,
    );
    assert.ok(h.sim.stats.refusedUnencrypted > before);
  });

  test('NTLM with message encryption: hostname, a non-zero exit code and a WMI enumerate', async () => {
    const h = ntlmSim.hosts[1]!;
    const vars = { ENDPOINT: h.url, USER: h.user, PASSWORD: h.password, TRANSPORT: 'ntlm', ENCRYPTION: 'always' };
    const name = await runPywinrm(RUN_CMD, { ...vars, COMMAND: 'hostname', ARGS: '' });
    assert.equal(name.std_out, `${h.hostname}\r\n`);
    const exit = await runPywinrm(RUN_CMD, { ...vars, COMMAND: 'exit', ARGS: '42' });
    assert.equal(exit.status_code, 42);
    const os = await runPywinrm(ENUMERATE_WQL, {
      ...vars,
      WQL: 'SELECT CSName,TotalVisibleMemorySize,FreePhysicalMemory FROM Win32_OperatingSystem',
      MAXEL: '32000',
    });
    const t = h.truth();
    assert.deepEqual(os.items, [
      {
        CSName: h.hostname,
        FreePhysicalMemory: String(t.memoryFreeKb),
        TotalVisibleMemorySize: String(t.memoryTotalKb),
      },
    ]);
  });

  test('NTLM with a wrong password is rejected before any command runs', async () => {
    const h = ntlmSim.hosts[0]!;
    await assert.rejects(
      runPywinrm(RUN_CMD, {
        ENDPOINT: h.url,
        USER: h.user,
        PASSWORD: 'not-the-password',
        TRANSPORT: 'ntlm',
        ENCRYPTION: 'always',
        COMMAND: 'hostname',
        ARGS: '',
      }),
      /InvalidCredentialsError|credentials were rejected|401/,
    );
  });

  test('Basic over HTTP: run_cmd hostname returns the host name and exit code 0', async () => {
    const h = basicSim.hosts[0]!;
    const r = await runPywinrm(RUN_CMD, {
      ENDPOINT: h.url,
      USER: h.user,
      PASSWORD: h.password,
      TRANSPORT: 'basic',
      ENCRYPTION: 'never',
      COMMAND: 'hostname',
      ARGS: '',
    });
    assert.equal(r.status_code, 0);
    assert.equal(r.std_out, `${h.hostname}\r\n`);
  });

  test('Basic over HTTP: an unknown command exits 1 with the cmd.exe message on stderr', async () => {
    const h = basicSim.hosts[0]!;
    const r = await runPywinrm(RUN_CMD, {
      ENDPOINT: h.url,
      USER: h.user,
      PASSWORD: h.password,
      TRANSPORT: 'basic',
      ENCRYPTION: 'never',
      COMMAND: 'dir',
      ARGS: 'C:\\',
    });
    assert.equal(r.status_code, 1);
    assert.equal(
      r.std_err,
      "'dir' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n",
    );
  });

  test('Basic over HTTP: a paged WQL enumerate returns every fixed disk and process', async () => {
    const h = basicSim.hosts[0]!;
    const vars = { ENDPOINT: h.url, USER: h.user, PASSWORD: h.password, TRANSPORT: 'basic', ENCRYPTION: 'never' };
    // Free space and the process count move every step: accept the values of the step the request
    // started in or of the next one (a python process start can straddle a step boundary).
    const fixedDisks = () =>
      h
        .truth()
        .disks.filter((d) => d.driveType === 3)
        .map((d) => ({ DeviceID: d.deviceId, FreeSpace: String(d.freeBytes), Size: String(d.sizeBytes) }));
    const disksBefore = fixedDisks();
    const disks = await runPywinrm(ENUMERATE_WQL, {
      ...vars,
      WQL: 'SELECT DeviceID,Size,FreeSpace FROM Win32_LogicalDisk WHERE DriveType = 3',
      MAXEL: '32000',
    });
    const disksAfter = fixedDisks();
    assert.ok(
      [disksBefore, disksAfter].some((d) => JSON.stringify(d) === JSON.stringify(disks.items)),
      `fixed disks as the host has them: ${JSON.stringify(disks.items)} vs ${JSON.stringify(disksBefore)}`,
    );
    assert.equal(disks.pulls, 0);
    const countBefore = h.truth().processCount;
    const procs = await runPywinrm(ENUMERATE_WQL, { ...vars, WQL: 'SELECT Name FROM Win32_Process', MAXEL: '25' });
    const n = (procs.items as unknown[]).length;
    assert.ok(
      n === countBefore || n === h.truth().processCount,
      `every process once (${n} items, ${countBefore} processes when it began)`,
    );
    assert.equal(procs.pulls, Math.ceil(n / 25) - 1);
  });
});
