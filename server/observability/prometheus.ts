import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentHealth } from '../../shared/protocol/index.ts';

/** What the HTTP edge records per finished request; `route` is a template (bounded), never the raw URL. */
export interface HttpRecorder {
  request(method: string, route: string, status: number, seconds: number): void;
}

/** What the metrics writer records per stored (or failed) batch. */
export interface WriterRecorder {
  batch(outcome: 'stored' | 'failed', results: number, rows: number, seconds: number): void;
}

/** What the hub records: result batches as they arrive, and each agent's heartbeat health. */
export interface HubRecorder {
  resultsReceived(count: number): void;
  agentHealth(agentId: number, name: string, health: AgentHealth): void;
  /** The agent was deleted: its labels go at once. */
  agentDeleted(agentId: number): void;
}

/** Read at scrape time (gauges of state that lives elsewhere). */
export interface ScrapeSources {
  agentsConnected(): number;
  isOnline(agentId: number): boolean;
  writerQueue(): { queued: number; waiting: number };
  /** The agents that exist now, id → current name (renames and deletions since their last heartbeat). */
  agentNames(): Promise<Map<number, string>>;
}

/**
 * The server's Prometheus instrumentation, one registry per server (never prom-client's global one,
 * so two servers in one process keep apart). Modules get only their recorder; the composition root
 * attaches the scrape-time sources and the /metrics endpoint renders. Disabled: every recorder is a
 * no-op and nothing is registered.
 */
export interface ServerMetrics {
  readonly enabled: boolean;
  readonly http: HttpRecorder;
  readonly writer: WriterRecorder;
  readonly hub: HubRecorder;
  attach(sources: ScrapeSources): void;
  render(): Promise<{ contentType: string; body: string }>;
  close(): void;
}

const NOOP: ServerMetrics = {
  enabled: false,
  http: { request() {} },
  writer: { batch() {} },
  hub: { resultsReceived() {}, agentHealth() {}, agentDeleted() {} },
  attach() {},
  render: () => Promise.reject(new Error('metrics export is disabled')),
  close() {},
};

/** Seconds; HTTP answers are mostly milliseconds, writer batches tens of milliseconds to seconds. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface AgentState {
  name: string;
  health: AgentHealth;
}

export function createServerMetrics(o: { enabled: boolean }): ServerMetrics {
  if (!o.enabled) return NOOP;
  const registers = [new Registry()];
  const register = registers[0]!;
  collectDefaultMetrics({ register });

  const httpRequests = new Counter({
    name: 'nmslite_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status code.',
    labelNames: ['method', 'route', 'status'],
    registers,
  });
  const httpDuration = new Histogram({
    name: 'nmslite_http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to finishing its answer, by method, route template and status code.',
    labelNames: ['method', 'route', 'status'],
    buckets: HTTP_BUCKETS,
    registers,
  });
  const received = new Counter({
    name: 'nmslite_results_received_total',
    help: 'Poll results received from agents in results.batch messages (resends included).',
    registers,
  });
  const stored = new Counter({
    name: 'nmslite_results_stored_total',
    help: 'Poll results committed by the metrics writer (agent results and server-made missing-result failures).',
    registers,
  });
  const rowsInserted = new Counter({
    name: 'nmslite_metric_rows_inserted_total',
    help: 'Rows inserted into the metrics table (duplicates of stored rows are not counted).',
    registers,
  });
  const batchDuration = new Histogram({
    name: 'nmslite_writer_batch_duration_seconds',
    help: 'Time the metrics writer took to store one batch (connection, COPY, INSERT, state UPDATE, COMMIT), by outcome.',
    labelNames: ['outcome'],
    buckets: BATCH_BUCKETS,
    registers,
  });

  let sources: ScrapeSources | undefined;
  new Gauge({
    name: 'nmslite_writer_queue_depth',
    help: 'Results queued in the metrics writer, not yet in a batch being stored.',
    registers,
    collect() {
      this.set(sources?.writerQueue().queued ?? 0);
    },
  });
  new Gauge({
    name: 'nmslite_writer_waiting_writes',
    help: 'Result batches waiting for room in the full writer queue (their agents are not acked meanwhile).',
    registers,
    collect() {
      this.set(sources?.writerQueue().waiting ?? 0);
    },
  });
  new Gauge({
    name: 'nmslite_agents_connected',
    help: 'Agents with an authenticated session now.',
    registers,
    collect() {
      this.set(sources?.agentsConnected() ?? 0);
    },
  });

  // Per agent: the last health each agent reported, labelled by its current name. Bounded by the
  // number of agents; a deleted agent's labels go (event, and the name lookup at each scrape).
  const agents = new Map<number, AgentState>();
  const perAgent = (
    name: string,
    help: string,
    value: (a: AgentState, id: number) => number | undefined,
  ): Gauge<'agent'> =>
    new Gauge({
      name,
      help,
      labelNames: ['agent'],
      registers,
      collect() {
        this.reset();
        for (const [id, a] of agents) {
          const v = value(a, id);
          if (v !== undefined) this.set({ agent: a.name }, v);
        }
      },
    });
  perAgent('nmslite_agent_up', 'Whether the agent has a session now (1) or not (0).', (_a, id) =>
    sources?.isOnline(id) ? 1 : 0,
  );
  perAgent(
    'nmslite_agent_spool_backlog',
    "Results in the agent's spool not yet acknowledged by the server (last heartbeat).",
    (a) => a.health.spool_backlog,
  );
  perAgent('nmslite_agent_spool_bytes', "Bytes in the agent's spool (last heartbeat).", (a) => a.health.spool_bytes);
  perAgent(
    'nmslite_agent_spool_oldest_unsent_age_seconds',
    "Age of the oldest result in the agent's spool not yet acknowledged; 0 when the spool is empty (last heartbeat).",
    (a) => (a.health.spool_oldest_age_ms ?? 0) / 1000,
  );
  perAgent(
    'nmslite_agent_job_lateness_seconds',
    "Worst delay between a poll's due time and its first attempt, over the agent's last heartbeat interval.",
    (a) => a.health.job_lateness_ms / 1000,
  );
  perAgent(
    'nmslite_agent_jobs_in_flight',
    'Polls the agent is running now (last heartbeat).',
    (a) => a.health.jobs_in_flight,
  );
  new Counter({
    name: 'nmslite_agent_failures_total',
    help: 'Failures the agent counted by class since it started (resets when the agent restarts).',
    labelNames: ['agent', 'class'],
    registers,
    collect() {
      this.reset();
      for (const a of agents.values())
        for (const [cls, n] of Object.entries(a.health.errors)) this.inc({ agent: a.name, class: cls }, n);
    },
  });

  const refreshAgentNames = async (): Promise<void> => {
    if (!sources || agents.size === 0) return;
    let names: Map<number, string>;
    try {
      names = await sources.agentNames();
    } catch {
      return; // The database is unreachable: this scrape uses the names from the sessions.
    }
    for (const [id, a] of agents) {
      const name = names.get(id);
      if (name === undefined) agents.delete(id);
      else a.name = name;
    }
  };

  return {
    enabled: true,
    http: {
      request(method, route, status, seconds) {
        const labels = { method, route, status: String(status) };
        httpRequests.inc(labels);
        httpDuration.observe(labels, seconds);
      },
    },
    writer: {
      batch(outcome, results, rows, seconds) {
        batchDuration.observe({ outcome }, seconds);
        if (outcome !== 'stored') return;
        stored.inc(results);
        rowsInserted.inc(rows);
      },
    },
    hub: {
      resultsReceived: (count) => received.inc(count),
      agentHealth: (agentId, name, health) => void agents.set(agentId, { name, health }),
      agentDeleted: (agentId) => void agents.delete(agentId),
    },
    attach(s) {
      sources = s;
    },
    async render() {
      await refreshAgentNames();
      return { contentType: register.contentType, body: await register.metrics() };
    },
    close() {
      register.clear();
      agents.clear();
    },
  };
}
