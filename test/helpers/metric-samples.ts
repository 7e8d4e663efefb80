// Metric samples the tests and benches send or store when the values themselves do not matter.
import type { MetricSample } from '../../shared/metrics.ts';

/** Small round values (memory 50 of 100: a 50 % usage where a test reads it back). */
export const TEST_SAMPLE: MetricSample = {
  cpu_percent: 5,
  memory_total: 100,
  memory_used: 50,
  disk_total: 1000,
  disk_used: 10,
  net_sent_ps: 0,
  net_recv_ps: 0,
  net_utilization: 0,
  packets_sent: 0,
  packets_recv: 0,
  net_errors: 0,
  net_dropped: 0,
  process_count: 1,
  collection_ms: 3,
};

/** A Windows host's sample with realistic magnitudes (8 GiB memory, 100 GiB disk), for throughput benches. */
export const REALISTIC_SAMPLE: MetricSample = {
  cpu_percent: 12.5,
  memory_total: 8589934592,
  memory_used: 4294967296,
  disk_total: 107374182400,
  disk_used: 53687091200,
  net_sent_ps: 1000,
  net_recv_ps: 2000,
  net_utilization: 0.1,
  packets_sent: 10,
  packets_recv: 20,
  net_errors: 0,
  net_dropped: 0,
  process_count: 99,
  collection_ms: 5,
};

/** Every column but the error counters non-zero, for the writer tests (deadlock, tracker-writer) that store it. */
export const WRITER_SAMPLE: MetricSample = {
  cpu_percent: 5,
  memory_total: 100,
  memory_used: 50,
  disk_total: 10,
  disk_used: 5,
  net_sent_ps: 1,
  net_recv_ps: 2,
  net_utilization: 0.5,
  packets_sent: 3,
  packets_recv: 4,
  net_errors: 0,
  net_dropped: 0,
  process_count: 9,
  collection_ms: 3,
};
