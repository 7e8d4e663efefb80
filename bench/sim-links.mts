/**
 * Simulated agent links for bench/server-cost.mts: one process holding many WebSocket links that
 * authenticate as enrolled agents (signed EdDSA hello, as agent/link/client.ts does) and produce
 * results without WinRM. Run as a child process so its CPU is not the server's.
 *   node --import tsx bench/sim-links.mts CONFIG.json
 * CONFIG: { server: "wss://127.0.0.1:PORT", protocol: 1 | 2 | 3, flush_ms, identities: [{ agent_id, sign_private_key }] }
 * protocol 2 and 3 (the assignment design; 3 also answers the hub's challenge): holds each link's schedule.full / schedule.delta, acks the
 *   revision, and emits one result per monitor per slot (shared/schedule.ts), gathered every flush_ms
 *   (the agent groups results finished within 50 ms into one spool write).
 * protocol 1 (per-poll dispatch, commit 2544da1): answers every jobs.dispatch with its results at once.
 * Both send as the agent's link drains its spool: at most batches_in_flight unacknowledged
 * results.batch messages of at most 500 results; what waits meanwhile goes in the next batch.
 * Prints one JSON line of counters every 5 s and a last one on SIGTERM.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { z } from 'zod';
import { nextSlot, pollJobId } from '../shared/schedule.ts';
import { REALISTIC_SAMPLE } from '../test/helpers/metric-samples.ts';

const Config = z.object({
  server: z.string().url(),
  protocol: z.union([z.literal(1), z.literal(2), z.literal(3)]),
  flush_ms: z.number().int().min(1).max(60_000).default(50),
  /** Unacknowledged results.batch messages per link (agent/link/client.ts default: 4). */
  batches_in_flight: z.number().int().min(1).max(1000).default(4),
  identities: z.array(z.object({ agent_id: z.number().int().positive(), sign_private_key: z.string() })).min(1),
});
const cfgPath = process.argv[2];
if (!cfgPath) {
  process.stderr.write('usage: sim-links.mts CONFIG.json\n');
  process.exit(2);
}
const cfg = Config.parse(JSON.parse(readFileSync(cfgPath, 'utf8')));

const SAMPLE = REALISTIC_SAMPLE;
const HEALTH = { spool_backlog: 0, jobs_in_flight: 0, job_lateness_ms: 0, errors: {} };
const BATCH_MAX = 500;

const totals = {
  connects: 0,
  closes: {} as Record<string, number>,
  schedules_full: 0,
  deltas: 0,
  resyncs: 0,
  assignments: 0,
  dispatched_jobs: 0,
  results_sent: 0,
  batches_sent: 0,
  results_acked: 0,
  max_backlog: 0,
  poll_now: 0,
};

/** Min-heap of (due, monitor) for one link. */
class Due {
  private a: { due: number; id: number; interval: number }[] = [];
  get size(): number {
    return this.a.length;
  }
  clear(): void {
    this.a = [];
  }
  push(e: { due: number; id: number; interval: number }): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.due <= e.due) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = e;
  }
  peek(): { due: number; id: number; interval: number } | undefined {
    return this.a[0];
  }
  pop(): { due: number; id: number; interval: number } | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const c = l + 1 < a.length && a[l + 1]!.due < a[l]!.due ? l + 1 : l;
        if (a[c]!.due >= last.due) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

class SimLink {
  private ws: WebSocket | undefined;
  private readonly key: KeyObject;
  private seq = 0;
  private inFlight = 0;
  private revision: number | null = null;
  /** Current assignment interval by monitor id (protocol 2); the heap may hold stale entries, checked on pop. */
  private intervals = new Map<number, number>();
  private readonly due = new Due();
  private parts: { id: number; interval: number }[] = [];
  private pending: object[] = [];
  private stopped = false;

  constructor(
    private readonly agentId: number,
    pem: string,
  ) {
    this.key = createPrivateKey(pem);
  }

  start(): void {
    // Protocol 3 offers the subprotocol and signs the server's challenge nonce; older ones say hello at once.
    const ws = new WebSocket(
      new URL('/agent', cfg.server),
      cfg.protocol >= 3 ? [`nmslite-agent.${cfg.protocol}`] : [],
      { rejectUnauthorized: false, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 },
    );
    this.ws = ws;
    const hello = async (nonce?: string) => {
      const token = await new SignJWT(nonce ? { nonce } : {})
        .setProtectedHeader({ alg: 'EdDSA' })
        .setSubject(String(this.agentId))
        .setAudience('nmslite-agent-hub')
        .setIssuedAt()
        .setExpirationTime('2m')
        .sign(this.key);
      this.send({
        type: 'hello',
        protocol: cfg.protocol,
        token,
        agent_version: 'sim-links',
        hostname: 'sim',
        max_in_flight: 100_000,
        sent_at: Date.now(),
        ...(cfg.protocol >= 2 ? { schedule_revision: this.revision } : {}),
      });
    };
    if (cfg.protocol < 3) ws.on('open', () => void hello());
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString('utf8'));
      if (m.type === 'challenge') void hello(m.nonce);
      else this.onMessage(m);
    });
    ws.on('error', () => {});
    ws.on('close', (code: number) => {
      totals.closes[code] = (totals.closes[code] ?? 0) + 1;
      this.ws = undefined;
      this.inFlight = 0;
      if (!this.stopped) setTimeout(() => this.start(), 1000 + Math.random() * 2000);
    });
  }

  stop(): void {
    this.stopped = true;
    this.ws?.close(1000);
  }

  private send(m: object): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(m));
    return true;
  }

  /** Sends what waits, as the agent's link drains its spool: a bounded number of batches awaiting ack. */
  private pump(): void {
    while (this.pending.length && this.inFlight < cfg.batches_in_flight) {
      const chunk = this.pending.slice(0, BATCH_MAX);
      if (!this.send({ type: 'results.batch', results: chunk })) return;
      this.pending = this.pending.slice(chunk.length);
      totals.batches_sent++;
      totals.results_sent += chunk.length;
      this.inFlight++;
    }
  }

  private onMessage(m: any): void {
    switch (m.type) {
      case 'welcome':
        totals.connects++;
        break;
      case 'heartbeat':
        this.send({ type: 'heartbeat.ack', echo: m.sent_at, agent_time: Date.now() });
        this.send({
          type: 'heartbeat',
          sent_at: Date.now(),
          health:
            cfg.protocol >= 2
              ? { ...HEALTH, schedule_revision: this.revision, monitors_assigned: this.intervals.size }
              : HEALTH,
        });
        break;
      case 'results.ack':
        this.inFlight = Math.max(0, this.inFlight - 1);
        totals.results_acked += m.seqs.length;
        this.pump();
        break;
      case 'jobs.dispatch': {
        totals.dispatched_jobs += m.jobs.length;
        const now = new Date().toISOString();
        for (const j of m.jobs as { job_id: string; monitor_id: number }[])
          this.pending.push({
            seq: ++this.seq,
            job_id: j.job_id,
            monitor_id: j.monitor_id,
            time: now,
            attempts: 1,
            metrics: SAMPLE,
          });
        this.pump();
        break;
      }
      case 'schedule.full':
        for (const a of m.assignments) this.parts.push({ id: a.monitor_id, interval: a.interval_s * 1000 });
        if (!m.more) {
          totals.schedules_full++;
          this.apply(this.parts, true);
          this.parts = [];
          this.revision = m.revision;
          this.send({ type: 'schedule.ack', revision: m.revision });
        }
        break;
      case 'schedule.delta':
        if (this.revision !== m.base) {
          totals.resyncs++;
          this.send({
            type: 'schedule.resync',
            have: this.revision,
            reason: `delta base ${m.base}, have ${this.revision}`,
          });
          break;
        }
        totals.deltas++;
        for (const id of m.remove) this.intervals.delete(id);
        this.apply(
          m.upsert.map((a: { monitor_id: number; interval_s: number }) => ({
            id: a.monitor_id,
            interval: a.interval_s * 1000,
          })),
          false,
        );
        this.revision = m.revision;
        this.send({ type: 'schedule.ack', revision: m.revision });
        break;
      case 'poll.now':
        totals.poll_now++;
        this.send({
          type: 'poll.result',
          request_id: m.request_id,
          time: new Date().toISOString(),
          attempts: 1,
          metrics: SAMPLE,
        });
        break;
      default:
        break;
    }
  }

  private apply(list: { id: number; interval: number }[], replace: boolean): void {
    const now = Date.now();
    if (replace) {
      const keep = new Map(list.map((a) => [a.id, a.interval]));
      const unchanged =
        [...keep].every(([id, iv]) => this.intervals.get(id) === iv) && keep.size === this.intervals.size;
      if (unchanged) return;
      this.intervals = keep;
      this.due.clear();
      for (const [id, interval] of keep) this.due.push({ id, interval, due: nextSlot(id, interval, now + 1) });
    } else {
      for (const a of list) {
        const had = this.intervals.get(a.id);
        this.intervals.set(a.id, a.interval);
        if (had !== a.interval)
          this.due.push({ id: a.id, interval: a.interval, due: nextSlot(a.id, a.interval, now + 1) });
      }
    }
    totals.assignments = links.reduce((n, l) => n + l.intervals.size, 0);
  }

  /** protocol 2: emit every slot that fell due since the last flush, stamped with its slot. */
  flush(now: number): void {
    for (let e = this.due.peek(); e && e.due <= now; e = this.due.peek()) {
      this.due.pop();
      if (this.intervals.get(e.id) !== e.interval) continue;
      this.pending.push({
        seq: ++this.seq,
        job_id: pollJobId(e.id, e.due),
        monitor_id: e.id,
        time: new Date(e.due).toISOString(),
        attempts: 1,
        metrics: SAMPLE,
      });
      e.due += e.interval;
      this.due.push(e);
    }
    this.pump();
  }

  backlog(): number {
    return this.pending.length;
  }
}

const links = cfg.identities.map((i) => new SimLink(i.agent_id, i.sign_private_key));
links.forEach((l, i) => setTimeout(() => l.start(), i * 5));
if (cfg.protocol >= 2) {
  setInterval(() => {
    const now = Date.now();
    for (const l of links) l.flush(now);
  }, cfg.flush_ms);
}
const report = (): void => {
  process.stdout.write(
    `${JSON.stringify({ ...totals, backlog: links.reduce((n, l) => n + l.backlog(), 0), at: Date.now() })}\n`,
  );
};
setInterval(report, 5000);
setInterval(
  () =>
    (totals.max_backlog = Math.max(
      totals.max_backlog,
      links.reduce((n, l) => n + l.backlog(), 0),
    )),
  1000,
);
process.on('SIGTERM', () => {
  report();
  links.forEach((l) => l.stop());
  setTimeout(() => process.exit(0), 200);
});
