// GET /install/*: the agent binaries this server was built with, their manifest, and the install
// scripts with this server's address and certificate pins filled in. No authentication: nothing here
// is secret (the enrollment token travels only in the operator's command). Fixed allow-list of names.
import { createReadStream, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { sendJson } from '../api/rest/http-io.ts';
import type { Log } from '../log.ts';
import { type AgentBinary, AGENT_BINARIES, type BinaryScan, scanBinaries, unchanged } from './binaries.ts';
import {
  type InstallCommands,
  type InstallTarget,
  linuxCommand,
  psQuote,
  shQuote,
  spkiPin,
  windowsCommand,
} from './commands.ts';
import { createInstallLimits } from './limits.ts';

export interface AgentInstallOptions {
  /** Folder with the binaries `npm run build:agent` writes (install.agents_dir). */
  dir: string;
  maxBinaryBytes: number;
  maxConcurrentDownloads: number;
  maxDownloadsPerAddress: number;
  requestsPerMinute: number;
  downloadTimeoutMs: number;
  /** server.public_url; unset: https://<this machine's host name>:<port>. */
  publicUrl: string | undefined;
  /** The port actually listened on (known after listen). */
  port: () => number;
  /** The server's certificate (PEM; the first one is the leaf). */
  cert: Buffer;
  /** SHA-256 of the DER certificate, hex. */
  fingerprint: string;
  version: string;
  log: Log;
}

export interface AgentInstall {
  /** Answers every request whose path starts with /install/. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
  /** The commands to paste for a fresh enrollment token. */
  commands(token: string): Promise<InstallCommands>;
  /** Resolves once the binaries are hashed (started at creation). */
  ready(): Promise<BinaryScan>;
}

const BUILD_HINT =
  'run `npm run build:agent` where the server runs (the server image builds them) and restart the server';
const SH_TEMPLATE = new URL('./agent.sh', import.meta.url);
const PS_TEMPLATE = new URL('./agent.ps1', import.meta.url);

const fail = (
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  details: Record<string, unknown> = {},
) => sendJson(res, status, { error: { code, message, details } });

export function createAgentInstall(o: AgentInstallOptions): AgentInstall {
  const pin = spkiPin(o.cert);
  const scanning = scanBinaries(o.dir, o.maxBinaryBytes).then((scan) => {
    for (const s of scan.skipped)
      o.log.warn({ file: s.name, reason: s.reason }, 'agent binary not offered at /install');
    if (scan.binaries.length === 0)
      o.log.info({ dir: scan.dir }, `no agent binaries to serve at /install: ${BUILD_HINT}`);
    else
      o.log.info(
        { dir: scan.dir, files: scan.binaries.map((b) => ({ name: b.name, size: b.size, sha256: b.sha256 })) },
        'agent binaries served at /install',
      );
    return scan;
  });
  const limits = createInstallLimits({
    requestsPerMinute: o.requestsPerMinute,
    maxConcurrent: o.maxConcurrentDownloads,
    maxPerAddress: o.maxDownloadsPerAddress,
  });
  const sh = readFileSync(SH_TEMPLATE, 'utf8');
  const ps = readFileSync(PS_TEMPLATE, 'utf8');

  const notes: string[] = [];
  const baseUrl = (): string => o.publicUrl ?? `https://${hostname()}:${o.port()}`;
  const target = (): InstallTarget => ({ baseUrl: baseUrl(), pin, fingerprint: o.fingerprint });
  if (!o.publicUrl)
    notes.push(
      `server.public_url is not set: the commands use this machine's host name (${hostname()}); set it to the address agents reach`,
    );
  else if (!o.publicUrl.startsWith('https://'))
    notes.push('server.public_url is not https://: the install commands need the server itself over HTTPS');

  const sha = (scan: BinaryScan, name: string) => scan.binaries.find((b) => b.name === name)?.sha256 ?? '';
  const size = (scan: BinaryScan, name: string) => String(scan.binaries.find((b) => b.name === name)?.size ?? 0);
  const fill = (template: string, scan: BinaryScan, quote: (s: string) => string): string => {
    const t = target();
    const values: Record<string, string> = {
      SERVER_URL: t.baseUrl,
      SERVER_WSS: `wss://${new URL(t.baseUrl).host}`,
      PIN: `sha256//${t.pin}`,
      FINGERPRINT: t.fingerprint,
      VERSION: o.version,
      SHA256_LINUX_X64: sha(scan, 'agent-linux-x64'),
      SHA256_LINUX_ARM64: sha(scan, 'agent-linux-arm64'),
      SHA256_WIN_X64: sha(scan, 'agent-win-x64.exe'),
      SIZE_LINUX_X64: size(scan, 'agent-linux-x64'),
      SIZE_LINUX_ARM64: size(scan, 'agent-linux-arm64'),
      SIZE_WIN_X64: size(scan, 'agent-win-x64.exe'),
    };
    return template.replace(/__NMSLITE_([A-Z0-9_]+)__/g, (m, k: string) => (k in values ? quote(values[k]!) : m));
  };

  const manifest = (scan: BinaryScan) => ({
    version: o.version,
    server_url: baseUrl(),
    files: scan.binaries.map((b) => ({
      os: b.os,
      arch: b.arch,
      url: `${baseUrl()}/install/${b.name}`,
      sha256: b.sha256,
      size: b.size,
    })),
  });

  function sendText(res: ServerResponse, type: string, text: string): void {
    res.writeHead(200, {
      'content-type': `${type}; charset=utf-8`,
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    });
    res.end(text);
  }

  function sendBinary(req: IncomingMessage, res: ServerResponse, b: AgentBinary, ip: string): void {
    if (!unchanged(b))
      return fail(
        res,
        503,
        'UNAVAILABLE',
        `the agent binary ${b.name} changed on disk after the server announced its SHA-256: restart the server to announce the new one`,
      );
    const slot = limits.startDownload(ip);
    if (!slot.ok) {
      res.setHeader('retry-after', '30');
      return fail(res, 429, 'RATE_LIMITED', slot.reason);
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': b.size,
      'content-disposition': `attachment; filename="nmslite-${b.name}"`,
      'x-content-sha256': b.sha256,
      'cache-control': 'no-store',
    });
    const stream = createReadStream(b.path);
    // A client reading too slowly holds a download slot at most this long.
    const deadline = setTimeout(() => res.destroy(), o.downloadTimeoutMs);
    const done = () => {
      clearTimeout(deadline);
      slot.release();
      stream.destroy();
    };
    res.once('close', done);
    stream.once('error', () => res.destroy());
    if (req.method === 'HEAD') return void res.end();
    stream.pipe(res);
  }

  return {
    ready: () => scanning,
    async commands(token) {
      const scan = await scanning;
      const t = target();
      const https = t.baseUrl.startsWith('https://');
      const has = (os: 'linux' | 'windows') => scan.binaries.some((b) => b.os === os);
      const out = [...notes];
      if (!has('linux')) out.push(`no Linux agent binary is built on this server: ${BUILD_HINT}`);
      if (!has('windows')) out.push(`no Windows agent binary is built on this server: ${BUILD_HINT}`);
      return {
        server_url: t.baseUrl,
        linux: https && has('linux') ? linuxCommand(t, token) : null,
        windows: https && has('windows') ? windowsCommand(t, token) : null,
        notes: out,
      };
    },
    async handle(req, res, path) {
      const name = (path.split('?')[0] ?? '').slice('/install/'.length);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        return fail(res, 405, 'VALIDATION_ERROR', `${req.method} is not allowed here: /install/ serves GET only`);
      }
      const ip = req.socket.remoteAddress ?? 'unknown';
      if (!limits.allowRequest(ip)) {
        res.setHeader('retry-after', '60');
        return fail(
          res,
          429,
          'RATE_LIMITED',
          `more than ${o.requestsPerMinute} /install requests a minute from this address`,
        );
      }
      const scan = await scanning;
      if (name === 'manifest.json') return sendJson(res, 200, manifest(scan));
      if (name === 'agent.sh') return sendText(res, 'text/x-shellscript', fill(sh, scan, shQuote));
      if (name === 'agent.ps1') return sendText(res, 'text/plain', fill(ps, scan, psQuote));
      const known = AGENT_BINARIES.find((b) => b.name === name);
      if (!known)
        return fail(
          res,
          404,
          'NOT_FOUND',
          'not found: /install/ serves agent.sh, agent.ps1, manifest.json and the agent binaries',
          {
            names: ['agent.sh', 'agent.ps1', 'manifest.json', ...AGENT_BINARIES.map((b) => b.name)],
          },
        );
      const b = scan.binaries.find((x) => x.name === name);
      if (!b)
        return fail(res, 404, 'NOT_FOUND', `the agent binary ${name} is not built on this server: ${BUILD_HINT}`, {
          file: known.file,
        });
      sendBinary(req, res, b, ip);
    },
  };
}
