import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistry } from '../../../agent/collectors/registry.ts';
import { createRunner, type JobResult, type JobResultInfo, type RunnerJob } from '../../../agent/runner/runner.ts';

test('through the runner, a hanging, a crashing and a garbage plugin each get a clear failure while a good one succeeds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmslite-runner-ext-'));
  mkdirSync(join(dir, 'plugins'));
  symlinkSync(process.execPath, join(dir, 'plugins', 'node')); // the site installed node; the scripts are its args
  const registry = createRegistry({ pluginsDir: join(dir, 'plugins') });
  try {
    const script = (name: string, body: string): string => {
      const p = join(dir, name);
      writeFileSync(p, body);
      return p;
    };
    const plugins = {
      good: script('good.mjs', 'process.stdout.write(JSON.stringify({ cpu_percent: 42, process_count: 7 }));\n'),
      hang: script('hang.mjs', 'setInterval(() => {}, 1000);\n'),
      crash: script('crash.mjs', "process.stderr.write('fatal: WMI repository is corrupt\\n'); process.exit(2);\n"),
      garbage: script('garbage.mjs', "process.stdout.write('<html>oops</html>');\n"),
    };
    const results = new Map<string, { r: JobResult; info: JobResultInfo }>();
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const runner = createRunner({
      registry,
      maxConcurrent: 4,
      perTargetConcurrent: 1,
      retryBackoffMs: 20,
      onResult: (r, info) => {
        results.set(r.job_id, { r, info });
        if (results.size === 4) done();
      },
    });
    const jobs: RunnerJob[] = Object.entries(plugins).map(([name, path], i) => ({
      job_id: name,
      monitor_id: i + 1,
      deadline: Date.now() + 1500,
      target: { ip: `127.0.0.${i + 1}`, port: 5985, use_ssl: false },
      plugin: { type: 'external', config: { command: 'node', args: [path], timeout_ms: 400 } },
      credential: null,
    }));
    const t0 = Date.now();
    runner.submit(jobs);
    await all;
    await runner.stop();
    const good = results.get('good')!;
    assert.ok('metrics' in good.r && good.r.metrics.cpu_percent === 42 && good.r.metrics.process_count === 7);
    assert.ok(good.info.waitedMs < 200, 'the good plugin waited behind the bad ones');
    const failure = (id: string) => {
      const x = results.get(id)!.r;
      return 'failure' in x ? x.failure : undefined;
    };
    assert.equal(failure('hang')?.class, 'timeout');
    assert.equal(failure('crash')?.class, 'plugin_error');
    assert.match(failure('crash')!.message, /exited with code 2: fatal: WMI repository is corrupt/);
    assert.equal(failure('garbage')?.class, 'plugin_error');
    assert.match(failure('garbage')!.message, /not JSON: "<html>oops<\/html>"/);
    // The crash is retried (it may be transient) but all within the 1.5 s deadline.
    assert.equal(results.get('crash')!.info.attempts, 3);
    assert.ok(Date.now() - t0 < 3000);
  } finally {
    registry.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
