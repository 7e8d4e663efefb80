import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startWinsim, type Winsim } from '../../winsim/index.ts';
import { ENUMERATE_WQL, pywinrmAvailable, RUN_CMD, runPywinrm } from './pywinrm.ts';

// Interop with a client written by others: Debian's python3-winrm (pywinrm 0.3.0 + requests-ntlm + ntlm-auth).
// CI installs it (.ci/run); locally: apt-get install -y python3-winrm.
const FROZEN = Date.UTC(2026, 10, 23, 12, 0, 0);
const available = await pywinrmAvailable();
const skip = available ? false : 'python3-winrm is not installed (apt-get install -y python3-winrm)';

describe('pywinrm against winsim', { skip }, () => {
  let basicSim: Winsim;
  before(async () => {
    basicSim = await startWinsim({ hosts: 1, portBase: 0, auth: 'basic', seed: 11, clock: () => FROZEN });
  });
  after(async () => {
    await basicSim?.stop();
  });

  test('Basic over HTTP: run_cmd hostname returns the host name and exit code 0', async () => {
    const h = basicSim.hosts[0]!;
    const r = await runPywinrm(RUN_CMD, { ENDPOINT: h.url, USER: h.user, PASSWORD: h.password, TRANSPORT: 'basic', ENCRYPTION: 'never', COMMAND: 'hostname', ARGS: '' });
    assert.equal(r.status_code, 0);
    assert.equal(r.std_out, `${h.hostname}\r\n`);
  });

  test('Basic over HTTP: an unknown command exits 1 with the cmd.exe message on stderr', async () => {
    const h = basicSim.hosts[0]!;
    const r = await runPywinrm(RUN_CMD, { ENDPOINT: h.url, USER: h.user, PASSWORD: h.password, TRANSPORT: 'basic', ENCRYPTION: 'never', COMMAND: 'dir', ARGS: 'C:\\' });
    assert.equal(r.status_code, 1);
    assert.equal(r.std_err, "'dir' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n");
  });

  test('Basic over HTTP: a paged WQL enumerate returns every fixed disk and process', async () => {
    const h = basicSim.hosts[0]!;
    const vars = { ENDPOINT: h.url, USER: h.user, PASSWORD: h.password, TRANSPORT: 'basic', ENCRYPTION: 'never' };
    const disks = await runPywinrm(ENUMERATE_WQL, { ...vars, WQL: 'SELECT DeviceID,Size,FreeSpace FROM Win32_LogicalDisk WHERE DriveType = 3', MAXEL: '32000' });
    const truth = h.truth();
    const fixed = truth.disks.filter((d) => d.driveType === 3);
    assert.deepEqual(
      disks.items,
      fixed.map((d) => ({ DeviceID: d.deviceId, FreeSpace: String(d.freeBytes), Size: String(d.sizeBytes) })),
    );
    assert.equal(disks.pulls, 0);
    const procs = await runPywinrm(ENUMERATE_WQL, { ...vars, WQL: 'SELECT Name FROM Win32_Process', MAXEL: '25' });
    const t = h.truth();
    assert.equal((procs.items as unknown[]).length, t.processCount);
    assert.equal(procs.pulls, Math.ceil(t.processCount / 25) - 1);
  });
});
