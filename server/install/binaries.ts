import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The only files /install/ serves from the agents folder: URL name → file `npm run build:agent` writes. */
export const AGENT_BINARIES = [
  { name: 'agent-linux-x64', file: 'nmslite-agent-linux-x64', os: 'linux', arch: 'x64' },
  { name: 'agent-linux-arm64', file: 'nmslite-agent-linux-arm64', os: 'linux', arch: 'arm64' },
  { name: 'agent-win-x64.exe', file: 'nmslite-agent-win-x64.exe', os: 'windows', arch: 'x64' },
] as const;
export type BinaryName = (typeof AGENT_BINARIES)[number]['name'];

export interface AgentBinary {
  name: BinaryName;
  os: 'linux' | 'windows';
  arch: 'x64' | 'arm64';
  path: string;
  size: number;
  mtimeMs: number;
  sha256: string;
}

export interface BinaryScan {
  dir: string;
  binaries: AgentBinary[];
  /** Files present but not announced (too large, unreadable), with the reason: logged once. */
  skipped: { name: string; reason: string }[];
}

/** Hashes by path, size and modification time: servers started again in one process (tests) hash a file once. */
const hashed = new Map<string, Promise<string>>();

function sha256File(path: string, size: number, mtimeMs: number): Promise<string> {
  const key = `${path}\0${size}\0${mtimeMs}`;
  let p = hashed.get(key);
  if (!p) {
    p = hashStream(path);
    hashed.set(key, p);
    p.catch(() => hashed.delete(key));
  }
  return p;
}

function hashStream(path: string): Promise<string> {
  return new Promise((done, fail) => {
    const h = createHash('sha256');
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (c) => h.update(c))
      .on('error', fail)
      .on('end', () => done(h.digest('hex')));
  });
}

/** Stats and hashes every allow-listed binary in `dir` once; a missing folder or file is simply absent. */
export async function scanBinaries(dir: string, maxBytes: number): Promise<BinaryScan> {
  const abs = resolve(dir);
  const binaries: AgentBinary[] = [];
  const skipped: BinaryScan['skipped'] = [];
  for (const b of AGENT_BINARIES) {
    const path = join(abs, b.file);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    if (!st.isFile()) {
      skipped.push({ name: b.file, reason: 'not a regular file' });
      continue;
    }
    if (st.size > maxBytes) {
      skipped.push({ name: b.file, reason: `${st.size} bytes is over install.max_binary_mb` });
      continue;
    }
    try {
      const sha256 = await sha256File(path, st.size, st.mtimeMs);
      const after = statSync(path);
      if (after.size !== st.size || after.mtimeMs !== st.mtimeMs) {
        skipped.push({ name: b.file, reason: 'changed while it was being hashed (a build running?)' });
        continue;
      }
      binaries.push({ name: b.name, os: b.os, arch: b.arch, path, size: st.size, mtimeMs: st.mtimeMs, sha256 });
    } catch (err) {
      skipped.push({ name: b.file, reason: `cannot be read: ${(err as Error).message}` });
    }
  }
  return { dir: abs, binaries, skipped };
}

/** True while the file on disk is still the one that was hashed (same size and modification time). */
export function unchanged(b: AgentBinary): boolean {
  try {
    const st = statSync(b.path);
    return st.size === b.size && st.mtimeMs === b.mtimeMs;
  } catch {
    return false;
  }
}
