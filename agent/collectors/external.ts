import { spawn, type ChildProcess } from 'node:child_process';
import { z } from 'zod';
import { ExternalPluginConfig } from '../../shared/external-plugin.ts';
import { MetricSample } from '../../shared/metrics.ts';
import { ClassifiedError } from '../failure.ts';
import { configValidator, describeZodError, type Collector, type CollectRequest } from './collector.ts';
import { resolveInstalledPlugin } from './plugin-folder.ts';
import { summarisePluginText } from './plugin-text.ts';

/*
 * External plugin protocol:
 *   which    `command` is a plugin NAME; only `<plugins folder>/<name>`, installed by the site's
 *            administrator, runs (plugin-folder.ts). Anything else: plugin_error `not_allowed`.
 *   run      that file with `args` directly (no shell), in its own process group, with a minimal
 *            environment (PATH, LANG, TZ, HOME, TMPDIR …; nothing of the agent's own).
 *   stdin    one JSON document and a newline:
 *            {"job_id","monitor_id","deadline": ISO 8601,"target":{"ip","port","use_ssl"},
 *             "credential":{"type","username","password","domain",…} | null,"config":{"args"}}
 *            The password travels only here: never in argv or the environment.
 *   stdout   one JSON object of MetricSample fields (shared/metrics.ts); fields left out are
 *            null, `collection_ms` defaults to the measured run time, unknown fields are refused.
 *            Or {"error": "message"} to report a failure in the plugin's own words.
 *   exit     0 on success. Non-zero → plugin_error with the code and stderr's first line.
 *   text     whatever of the plugin's own output goes into a failure message (which the server
 *            shows as last_error) is one sanitised line (plugin-text.ts), never its raw output.
 *   limits   killed (with its children) after timeout_ms or at the job deadline → timeout;
 *            more than max_output_bytes on stdout → killed, plugin_error.
 */
/** The server's schema, except that a command that is no plugin name is refused when the job runs (not_allowed), not as a bad config. */
export const ExternalConfig = ExternalPluginConfig.extend({ command: z.string().min(1).max(4096) });
export type ExternalConfig = z.infer<typeof ExternalConfig>;

/**
 * What a plugin prints: the metric fields it knows (the rest become null), or `{"error": "..."}`
 * to report a failure in its own words. Unknown fields are refused so typos surface.
 */
const PluginOutput = MetricSample.partial().strict();
const PluginError = z
  .object({ error: z.union([z.string(), z.object({ message: z.string() }).passthrough()]) })
  .passthrough();

const STDERR_KEEP_BYTES = 4096;
/** How much of a plugin's own words a failure message carries (one line each, see plugin-text.ts). */
const STDERR_REPORT_CHARS = 200;
const REPORTED_CHARS = 200;
const GARBAGE_CHARS = 80;
const EXIT_GRACE_MS = 1000;

/** Only what a program needs to run: the agent's own environment may hold secrets. */
function pluginEnv(): NodeJS.ProcessEnv {
  const keep = [
    'PATH',
    'LANG',
    'LC_ALL',
    'TZ',
    'HOME',
    'TMPDIR',
    'TEMP',
    'TMP',
    'SystemRoot',
    'ComSpec',
    'PATHEXT',
    'WINDIR',
  ];
  const env: NodeJS.ProcessEnv = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

/**
 * What the plugin left behind once it is done: it leads its own process group (detached), which
 * lives on while any descendant does, so a helper it started in the background dies with the job.
 */
function killLeftovers(child: ChildProcess): void {
  if (child.pid === undefined || process.platform === 'win32') return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* ESRCH: nothing left */
  }
}

function killTree(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  if (process.platform === 'win32') {
    spawn('taskkill', ['/pid', String(child.pid), '/T', '/F'], { stdio: 'ignore', windowsHide: true }).on(
      'error',
      () => undefined,
    );
    return;
  }
  try {
    process.kill(-child.pid, 'SIGKILL'); // the plugin leads its own process group (detached)
  } catch {
    child.kill('SIGKILL');
  }
}

/** Parses a plugin's stdout into a sample; fields it did not report are null. */
export function parsePluginOutput(stdout: string, secret: string | undefined, collectionMs: number): MetricSample {
  const text = stdout.trim();
  if (text === '')
    throw new ClassifiedError(
      'plugin_error',
      'the plugin printed nothing on stdout (expected a JSON object of metrics)',
      { code: 'empty_output' },
    );
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ClassifiedError(
      'plugin_error',
      `the plugin printed something that is not JSON: "${summarisePluginText(text, secret, GARBAGE_CHARS)}"`,
      { code: 'bad_output' },
    );
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ClassifiedError('plugin_error', 'the plugin printed JSON that is not an object of metrics', {
      code: 'bad_output',
    });
  }
  const reported = PluginError.safeParse(data);
  if (reported.success) {
    const e = reported.data.error;
    const msg = typeof e === 'string' ? e : e.message;
    throw new ClassifiedError(
      'plugin_error',
      `the plugin reported: ${summarisePluginText(msg, secret, REPORTED_CHARS) || '(no message)'}`,
      { code: 'plugin_reported' },
    );
  }
  const parsed = PluginOutput.safeParse(data);
  if (!parsed.success) {
    throw new ClassifiedError(
      'plugin_error',
      `the plugin printed invalid metrics: ${summarisePluginText(describeZodError(parsed.error), secret, REPORTED_CHARS)}`,
      { code: 'bad_output' },
    );
  }
  const sample: Record<string, unknown> = {};
  for (const key of Object.keys(MetricSample.shape)) sample[key] = null;
  Object.assign(sample, parsed.data);
  if (sample.collection_ms === null) sample.collection_ms = collectionMs;
  return MetricSample.parse(sample);
}

/** The document a plugin reads on stdin: the job, with the credential (the only place the password goes). */
function pluginInput(req: CollectRequest<ExternalConfig>): string {
  return `${JSON.stringify({
    job_id: req.job_id,
    monitor_id: req.monitor_id,
    deadline: new Date(req.deadline).toISOString(),
    target: req.target,
    credential: req.credential,
    config: { args: req.config.args },
  })}\n`;
}

/** Runs the installed plugin `req.config.command` from `pluginsDir`; refuses (not_allowed) anything else. */
async function runExternalPlugin(
  req: CollectRequest<ExternalConfig>,
  signal: AbortSignal,
  pluginsDir: string | undefined,
): Promise<MetricSample> {
  const path = await resolveInstalledPlugin(pluginsDir, req.config.command);
  return spawnPlugin(path, req, signal);
}

function spawnPlugin(path: string, req: CollectRequest<ExternalConfig>, signal: AbortSignal): Promise<MetricSample> {
  const cfg = req.config;
  const secret = req.credential?.password || undefined;
  const started = performance.now();
  const budget = Math.min(cfg.timeout_ms, Math.max(0, req.deadline - Date.now()));
  return new Promise<MetricSample>((resolve, reject) => {
    if (signal.aborted || budget <= 0) {
      reject(
        new ClassifiedError('timeout', 'the job deadline passed before the plugin could start', { code: 'deadline' }),
      );
      return;
    }
    let child: ChildProcess;
    try {
      child = spawn(path, cfg.args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: process.platform !== 'win32',
        env: pluginEnv(),
        windowsHide: true,
      });
    } catch (err) {
      reject(
        new ClassifiedError('plugin_error', `the plugin could not be started: ${(err as Error).message}`, {
          code: 'spawn',
        }),
      );
      return;
    }
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    const stderr: Buffer[] = [];
    let stderrBytes = 0;
    let settled = false;
    let exitGrace: NodeJS.Timeout | undefined;

    const finish = (err: ClassifiedError | null, value?: MetricSample): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(exitGrace);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(value!);
    };
    const abortWith = (err: ClassifiedError): void => {
      killTree(child);
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish(err);
    };
    const timer = setTimeout(() => {
      const why = budget < cfg.timeout_ms ? 'the job deadline' : `its ${cfg.timeout_ms} ms timeout`;
      abortWith(
        new ClassifiedError('timeout', `the plugin did not finish within ${why} (${budget} ms) and was killed`, {
          code: 'plugin_timeout',
        }),
      );
    }, budget);
    const onAbort = (): void =>
      abortWith(new ClassifiedError('timeout', 'the job deadline passed; the plugin was killed', { code: 'deadline' }));
    signal.addEventListener('abort', onAbort, { once: true });

    child.on('error', (err: NodeJS.ErrnoException) => {
      const what =
        err.code === 'ENOENT'
          ? `command not found: ${cfg.command}`
          : err.code === 'EACCES'
            ? `permission denied running ${cfg.command}`
            : `the plugin could not be started (${err.code ?? err.message})`;
      finish(new ClassifiedError('plugin_error', what, { code: err.code ?? 'spawn' }));
    });
    child.stdin?.on('error', () => undefined); // a plugin that ignores stdin closes it early: not a failure
    child.stdin?.end(pluginInput(req));

    child.stdout?.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > cfg.max_output_bytes) {
        abortWith(
          new ClassifiedError(
            'plugin_error',
            `the plugin printed more than ${cfg.max_output_bytes} bytes on stdout and was killed`,
            { code: 'output_limit' },
          ),
        );
        return;
      }
      stdout.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderrBytes >= STDERR_KEEP_BYTES) return;
      stderr.push(chunk.subarray(0, STDERR_KEEP_BYTES - stderrBytes));
      stderrBytes += chunk.length;
    });
    // A grandchild that keeps our pipes open must not keep the job waiting after the plugin exits.
    child.on('exit', () => {
      exitGrace = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, EXIT_GRACE_MS);
    });
    child.on('close', (code, sig) => {
      killLeftovers(child);
      if (settled) return;
      const elapsed = Math.round(performance.now() - started);
      const err = summarisePluginText(Buffer.concat(stderr).toString('utf8'), secret, STDERR_REPORT_CHARS);
      if (code !== 0) {
        const how = sig ? `was killed by ${sig}` : `exited with code ${code}`;
        finish(
          new ClassifiedError('plugin_error', `the plugin ${how}${err ? `: ${err}` : ' (no stderr)'}`, {
            code: sig ? `signal_${sig}` : `exit_${code}`,
          }),
        );
        return;
      }
      try {
        finish(null, parsePluginOutput(Buffer.concat(stdout).toString('utf8'), secret, elapsed));
      } catch (e) {
        finish(e as ClassifiedError);
      }
    });
  });
}

/**
 * `external`: an executable in the agent's plugins folder speaking JSON on stdin/stdout (the
 * protocol described at the top of this file). Without `pluginsDir` every external plugin is refused.
 */
export function createExternalCollector(o: { pluginsDir?: string | undefined } = {}): Collector<ExternalConfig> {
  return {
    name: 'external',
    validateConfig: configValidator(ExternalConfig, 'external plugin'),
    collect: (req, signal) => runExternalPlugin(req, signal, o.pluginsDir),
  };
}
