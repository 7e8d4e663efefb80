// Runs Debian's python3-winrm (pywinrm 0.3.0) as an independent client against the simulator.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PYTHON = '/usr/bin/python3';

/** Whether /usr/bin/python3 can import winrm (Debian package python3-winrm). */
export async function pywinrmAvailable(): Promise<boolean> {
  if (!existsSync(PYTHON)) return false;
  return new Promise((resolve) => execFile(PYTHON, ['-c', 'import winrm'], (err) => resolve(!err)));
}

// ntlm-auth computes the NT hash with hashlib md4, which OpenSSL 3 only has in the legacy provider.
const OPENSSL_CONF = `openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
`;

export interface PyResult {
  status_code: number;
  std_out: string;
  std_err: string;
  [key: string]: unknown;
}

/** Runs `script` (Python; gets ENDPOINT, USER, PASSWORD, TRANSPORT, ENCRYPTION globals) and parses the JSON it prints last. */
export async function runPywinrm(script: string, vars: Record<string, string>, timeoutMs = 30_000): Promise<PyResult> {
  const dir = await mkdtemp(join(tmpdir(), 'winsim-py-'));
  try {
    const conf = join(dir, 'openssl.cnf');
    const file = join(dir, 'run.py');
    await writeFile(conf, OPENSSL_CONF);
    const prelude = Object.entries(vars)
      .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
      .join('\n');
    await writeFile(file, `import json, winrm\n${prelude}\n${script}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, OPENSSL_CONF: conf };
    delete env.REQUESTS_CA_BUNDLE;
    delete env.CURL_CA_BUNDLE;
    delete env.PYTHONPATH;
    delete env.PYTHONHOME;
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(PYTHON, [file], { env, timeout: timeoutMs }, (err, out, errOut) =>
        err ? reject(new Error(`pywinrm failed: ${errOut || err.message}`)) : resolve(out),
      ),
    );
    const last = stdout.trim().split('\n').pop() ?? '';
    return JSON.parse(last) as PyResult;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The run_cmd script: one command through a shell, printed as JSON. */
export const RUN_CMD = `
s = winrm.Session(ENDPOINT, auth=(USER, PASSWORD), transport=TRANSPORT, message_encryption=ENCRYPTION, server_cert_validation='ignore')
r = s.run_cmd(COMMAND, ARGS.split(' ') if ARGS else [])
print(json.dumps({'status_code': r.status_code, 'std_out': r.std_out.decode('utf-8', 'replace'), 'std_err': r.std_err.decode('utf-8', 'replace')}))
`;

/** WMI enumerate through pywinrm's low-level protocol (it has no WMI helper): one Enumerate, Pulls until EndOfSequence. */
export const ENUMERATE_WQL = `
import xml.etree.ElementTree as ET
from winrm.protocol import Protocol
p = Protocol(endpoint=ENDPOINT, transport=TRANSPORT, username=USER, password=PASSWORD, message_encryption=ENCRYPTION, server_cert_validation='ignore')
NS = {'n': 'http://schemas.xmlsoap.org/ws/2004/09/enumeration', 'w': 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd'}
def req(action, body):
    msg = {'env:Envelope': p._get_soap_header(resource_uri='http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/*', action=action)}
    msg['env:Envelope'].setdefault('env:Body', body)
    import xmltodict
    return ET.fromstring(p.send_message(xmltodict.unparse(msg)))
root = req('http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate', {'n:Enumerate': {'w:OptimizeEnumeration': None, 'w:MaxElements': MAXEL, 'w:Filter': {'@Dialect': 'http://schemas.microsoft.com/wbem/wsman/1/WQL', '#text': WQL}}})
items = []
pulls = 0
while True:
    for it in root.iter():
        if it.tag.endswith('}Items'):
            for child in it:
                items.append({c.tag.split('}')[-1]: c.text for c in child})
    if any(e.tag.endswith('}EndOfSequence') for e in root.iter()):
        break
    ctx = [e.text for e in root.iter() if e.tag.endswith('}EnumerationContext')][0]
    pulls += 1
    root = req('http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull', {'n:Pull': {'n:EnumerationContext': ctx, 'n:MaxElements': MAXEL}})
print(json.dumps({'status_code': 0, 'std_out': '', 'std_err': '', 'items': items, 'pulls': pulls}))
`;
