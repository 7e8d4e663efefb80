// Shared fixtures of the edge-autonomy end-to-end tests (issue 11): simulated Windows hosts in their
// own process, a TCP relay that can cut an agent's link while the server stays up, an enrolled site
// with one monitor per host, and the slot arithmetic of shared/schedule.ts applied to the store.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import pg from 'pg';
import { isSlot, nextSlot } from '../../shared/schedule.ts';
import { decodeRecords } from '../../agent/spool/segment-file.ts';
import { agentHome, enrollAgent, startAgentProcess, waitFor, waitOnline } from '../helpers/agent-process.ts';

export { waitOnline };
import { startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WinsimProcess {
  hosts: { address: string; port: number; user: string; password: string }[];
  stop(): Promise<void>;
}

/** What the simulator CLI prints per host (one JSON line each once it listens). */
export interface WinsimCliHost {
  address: string;
  port: number;
  user: string;
  password: string;
  fingerprint?: string;
}

/**
 * A winsim CLI (`script`, default test/winsim/cli.ts) in a child process with `args` (its CPU is not the
 * caller's); resolves once `hosts` hosts have printed their line. Throws with the tail of its stderr
 * (when piped) if it exits or takes over `timeoutMs` first.
 */
export async function spawnWinsimCli(
  hosts: number,
  args: string[],
  o: { script?: string; stderr?: 'pipe' | 'inherit'; timeoutMs?: number } = {},
): Promise<{ child: ChildProcess; hosts: WinsimCliHost[]; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', o.script ?? 'test/winsim/cli.ts', '--hosts', String(hosts), ...args],
    { cwd: ROOT, stdio: ['ignore', 'pipe', o.stderr ?? 'pipe'] },
  );
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const stderr: string[] = [];
  child.stderr?.on('data', (c: Buffer) => stderr.push(c.toString('utf8')));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  const list: WinsimCliHost[] = [];
  const lines = createInterface({ input: child.stdout! });
  const read = (async () => {
    for await (const line of lines) {
      list.push(JSON.parse(line));
      if (list.length === hosts) return true;
    }
    return false;
  })();
  let timer: NodeJS.Timeout | undefined;
  const ok = await Promise.race([
    read,
    exited.then(() => false),
    new Promise<false>((r) => (timer = setTimeout(() => r(false), o.timeoutMs ?? 120_000))),
  ]);
  clearTimeout(timer);
  if (!ok) {
    await stop();
    throw new Error(`winsim did not start ${hosts} hosts: ${stderr.join('').slice(-2000)}`);
  }
  return { child, hosts: list, stop };
}

/** `test/winsim/cli.ts` in a child process, one address per host, OS-assigned ports (concurrent runs do not collide). */
export async function startWinsimProcess(o: {
  hosts: number;
  bind: string;
  auth: 'ntlm' | 'basic';
  password: string;
  seed?: number;
}): Promise<WinsimProcess> {
  const { hosts, stop } = await spawnWinsimCli(o.hosts, [
    '--bind',
    o.bind,
    '--distinct-addresses',
    '--port-base',
    '0',
    '--auth',
    o.auth,
    '--password',
    o.password,
    '--seed',
    String(o.seed ?? 11),
  ]);
  return { hosts, stop };
}

export interface LinkRelay {
  /** Enroll the agent against this port: its link then runs through the relay. */
  port: number;
  /**
   * Cuts the link the way a WAN outage does, but cleanly for counting: first the agent's bytes stop
   * reaching the server (whatever the server already stored is still acknowledged back), then the
   * sockets go, and new connections are refused until `restore`.
   */
  cut(): Promise<void>;
  restore(): void;
  close(): Promise<void>;
}

export async function startLinkRelay(targetPort: number, drainMs = 1500): Promise<LinkRelay> {
  let blocked = false;
  const pairs = new Set<{ agent: Socket; server: Socket; halfCut: boolean }>();
  const srv: Server = createServer((agentSock) => {
    if (blocked) return void agentSock.destroy();
    const serverSock = connect(targetPort, '127.0.0.1');
    const pair = { agent: agentSock, server: serverSock, halfCut: false };
    pairs.add(pair);
    agentSock.on('data', (d: Buffer) => {
      if (!pair.halfCut) serverSock.write(d);
    });
    serverSock.on('data', (d: Buffer) => agentSock.write(d));
    const end = (): void => {
      pairs.delete(pair);
      agentSock.destroy();
      serverSock.destroy();
    };
    agentSock.on('error', end).on('close', end);
    serverSock.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  return {
    port,
    async cut() {
      blocked = true;
      for (const p of pairs) p.halfCut = true;
      await sleep(drainMs);
      for (const p of [...pairs]) {
        p.agent.destroy();
        p.server.destroy();
      }
      pairs.clear();
    },
    restore() {
      blocked = false;
    },
    async close() {
      blocked = true;
      for (const p of [...pairs]) {
        p.agent.destroy();
        p.server.destroy();
      }
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

export interface Site {
  agentId: number;
  home: string;
  credentialId: number;
  /** `monitorsPerHost` monitors per host (default one), in host order. */
  monitors: number[];
}

const siteHomes: string[] = [];
/** Removes the agent homes createSite made (call in `after`, once the agents are stopped). */
export function removeSiteHomes(): void {
  for (const h of siteHomes.splice(0)) rmSync(h, { recursive: true, force: true });
}

/** Creates an agent, enrolls it (through `serverUrl`, default the server itself), one device and one monitor per host. */
export async function createSite(
  s: ServerProcess,
  sim: WinsimProcess,
  o: {
    name: string;
    auth: 'ntlm' | 'basic';
    interval: number;
    enabled?: boolean;
    serverUrl?: string;
    pluginId?: number;
    monitorsPerHost?: number;
  },
): Promise<Site> {
  const home = agentHome();
  siteHomes.push(home);
  const { agentId } = await enrollAgent(s, o.name, { serverUrl: o.serverUrl ?? s.wsUrl, home });
  const cred = await s.api('POST', '/api/v1/credential-profiles', {
    name: `${o.name}-cred`,
    type: o.auth === 'ntlm' ? 'winrm_ntlm' : 'winrm_basic',
    username: sim.hosts[0]!.user,
    password: sim.hosts[0]!.password,
  });
  if (!cred.body?.id) throw new Error(`create credential: ${cred.status} ${JSON.stringify(cred.body)}`);
  const monitors: number[] = [];
  for (const h of sim.hosts) {
    const dev = await s.api('POST', '/api/v1/devices', { agent_id: agentId, ip: h.address, port: h.port });
    if (!dev.body?.id) throw new Error(`create device: ${dev.status} ${JSON.stringify(dev.body)}`);
    for (let i = 0; i < (o.monitorsPerHost ?? 1); i++) {
      const mon = await s.api('POST', '/api/v1/monitors', {
        device_id: dev.body.id,
        credential_profile_id: cred.body.id,
        plugin_id: o.pluginId ?? 1,
        polling_interval: o.interval,
        enabled: o.enabled ?? true,
      });
      if (!mon.body?.id) throw new Error(`create monitor: ${mon.status} ${JSON.stringify(mon.body)}`);
      monitors.push(mon.body.id);
    }
  }
  return { agentId, home, credentialId: cred.body.id, monitors };
}

/** Every stored row's time (epoch ms) per monitor, ascending. */
export async function storedTimes(db: pg.Client, monitors: number[]): Promise<Map<number, number[]>> {
  const r = await db.query(
    'SELECT monitor_id, round(extract(epoch FROM time) * 1000)::bigint AS t FROM metrics WHERE monitor_id = ANY($1) ORDER BY monitor_id, time',
    [monitors],
  );
  const out = new Map<number, number[]>(monitors.map((m) => [m, []]));
  for (const row of r.rows) out.get(row.monitor_id)!.push(Number(row.t));
  return out;
}

export async function duplicateRows(db: pg.Client): Promise<number> {
  const r = await db.query(
    'SELECT count(*)::int AS n FROM (SELECT monitor_id, time FROM metrics GROUP BY 1, 2 HAVING count(*) > 1) d',
  );
  return r.rows[0].n as number;
}

/** The monitor's slots s with from <= s < to. */
export function slotsBetween(monitorId: number, intervalMs: number, from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = nextSlot(monitorId, intervalMs, from); t < to; t += intervalMs) out.push(t);
  return out;
}

/** Slots of [from, to) that have no stored row. */
export function missingSlots(
  monitorId: number,
  intervalMs: number,
  stored: number[],
  from: number,
  to: number,
): number[] {
  const have = new Set(stored);
  return slotsBetween(monitorId, intervalMs, from, to).filter((t) => !have.has(t));
}

export function offSlot(monitorId: number, intervalMs: number, stored: number[]): number[] {
  return stored.filter((t) => !isSlot(monitorId, intervalMs, t));
}

export const iso = (t: number): string => new Date(t).toISOString();

/** Unacknowledged records in an agent's disk spool (read-only, as `nmslite-agent status` reads it). */
export function spooledResults(
  spoolDir: string,
): { monitor_id: number; time: string; metrics?: unknown; failure?: unknown }[] {
  const acked = new Set<number>();
  try {
    for (const line of readFileSync(join(spoolDir, 'acks.log'), 'utf8').split('\n')) if (line) acked.add(Number(line));
  } catch {
    /* none yet */
  }
  const out: { monitor_id: number; time: string }[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(spoolDir).filter((n) => /^seg-\d+\.log$/.test(n));
  } catch {
    return out;
  }
  for (const name of names) {
    let buf: Buffer;
    try {
      buf = readFileSync(join(spoolDir, name));
    } catch {
      continue;
    }
    for (const r of decodeRecords(buf, Number(/^seg-(\d+)\.log$/.exec(name)![1])).records) {
      if (acked.has(r.seq)) continue;
      try {
        out.push(JSON.parse(r.payload.toString('utf8')));
      } catch {
        /* not a result */
      }
    }
  }
  return out;
}

/** Kills a child we started, if it still runs, and waits for it. */
export async function killChild(
  p: { child: ChildProcess; exited: Promise<number | null> } | undefined,
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<void> {
  if (!p) return;
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  await p.exited;
}

/** Server log lines that must never appear (issue 11: one writer of monitor state, so no deadlock). */
export const deadlockLines = (s: ServerProcess): string[] => s.logs.filter((l) => /deadlock detected/i.test(l));

/** The processes of one edge test: the hosts, the server, a database client on its store, the agent the test starts. */
export interface EdgeEnv {
  sim: WinsimProcess;
  s: ServerProcess;
  db: pg.Client;
  /** Set when `relay` was asked for: the agent's link runs through it. */
  relay: LinkRelay | undefined;
  /** The test sets it when it starts an agent; `after` kills it. */
  agent: { child: ChildProcess; logs: string[]; exited: Promise<number | null> } | undefined;
}

/**
 * Registers `before` (the winsim process with `hosts` NTLM hosts from `bind`, a server process, a link relay
 * if asked, a pg client on the server's database) and `after` (kills the agent, removes the site homes,
 * then stops the rest). The fields are set once `before` has run.
 */
export function edgeEnv(o: { hosts: number; bind: string; password: string; relay?: boolean }): EdgeEnv {
  const env = { relay: undefined, agent: undefined } as Partial<EdgeEnv> as EdgeEnv;
  before(async () => {
    env.sim = await startWinsimProcess({ hosts: o.hosts, bind: o.bind, auth: 'ntlm', password: o.password });
    env.s = await startServerProcess();
    if (o.relay) env.relay = await startLinkRelay(env.s.port);
    env.db = new pg.Client({ connectionString: env.s.dbUrl });
    await env.db.connect();
  });
  after(async () => {
    await killChild(env.agent);
    removeSiteHomes();
    await env.relay?.close();
    await env.db?.end().catch(() => {});
    await env.s?.stop();
    await env.sim?.stop();
  });
  return env;
}

/**
 * Starts the site's agent as `env.agent` (with `extra` flags), waits for it online and for `rows` stored rows
 * per monitor (the schedule then runs on the agent); returns the latest of the monitors' first row times.
 */
export async function startSteadySite(
  env: EdgeEnv,
  site: Site,
  o: { rows?: number; extra?: string[] } = {},
): Promise<number> {
  const rows = o.rows ?? 2;
  env.agent = startAgentProcess(site.home, o.extra);
  await waitOnline(env.s, site.agentId);
  await waitFor(
    `${rows} rows per monitor`,
    async () => [...(await storedTimes(env.db, site.monitors)).values()].every((t) => t.length >= rows),
    180_000,
    1000,
  );
  return Math.max(...[...(await storedTimes(env.db, site.monitors)).values()].map((t) => t[0]!));
}

/** Waits (as `what`) until `holes()` finds no missing slot; on timeout the error says how many are missing and names the first ten. */
export async function waitNoHoles(what: string, holes: () => Promise<string[]>, timeoutMs: number): Promise<void> {
  await waitFor(what, async () => (await holes()).length === 0, timeoutMs, 1000).catch(async (err) => {
    const h = await holes();
    throw new Error(`${(err as Error).message}: ${h.length} missing, first ${h.slice(0, 10).join(', ')}`);
  });
}
