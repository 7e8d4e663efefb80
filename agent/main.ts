import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { createCliProgress } from './cli-progress.ts';
import { AGENT_VERSION } from './version.ts';

// Each command loads only the modules it needs (dynamic imports stay lazy in the single-executable
// bundle): `--version` starts in a fraction of the time and an idle `run` never loads the collectors.

const HELP = `nmslite-agent ${AGENT_VERSION} — NMSlite edge agent

Usage:
  nmslite-agent enroll --server wss://HOST:8443 (--token TOKEN | --token-env VAR) [--fingerprint SHA256]
  nmslite-agent run
  nmslite-agent status [--json]
  nmslite-agent collect HOST [--port N] [--https] [--insecure] [--auth ntlm|basic] [--user U]
                             [--domain D] [--password-env VAR] [--plugin windows-wmi|windows-powershell]
  nmslite-agent discover TARGET [--port-scan] [--user U --password-env VAR] [--auth ntlm|basic] [--authenticate-unverified]
  nmslite-agent --version | --help

Common options (also NMSLITE_AGENT_<NAME> environment variables or a JSON file via --config):
  --home DIR                 agent state directory (default ~/.nmslite-agent)
  --identity FILE            identity file written by enroll (default HOME/identity.json)
  --spool-dir DIR            result spool (default HOME/spool)
  --spool-cap-mb N           spool size cap (default 1024)
  --max-in-flight N          jobs the server may have outstanding on this agent (default 2000)
  --max-concurrent N         collections at once (default 500)
  --per-target-concurrent N  collections at once against one host (default 2)
  --log-level LEVEL          fatal|error|warn|info|debug|trace|silent (default info)
  --ping-before-poll BOOL    ping hosts (batched) before polling them (default true)
  --max-offline-hours H      keep polling this long without the server, then pause (default 72)

status prints a summary; --json (or a non-terminal stdout) prints it as JSON.
On a terminal, progress and what each command is doing go to stderr; piped, only results and errors.

HTTPS_PROXY / NO_PROXY are honoured for the connection to the server (HTTP CONNECT).`;

/** What the command is doing, on stderr when it is a terminal (nothing when piped). */
const progress = createCliProgress();
const print = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o, null, 2)}\n`);
const fail = (message: string, code = 1): never => {
  progress.done();
  process.stderr.write(`nmslite-agent: ${message}\n`);
  process.exit(code);
};

async function main(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      config: { type: 'string' },
      home: { type: 'string' },
      identity: { type: 'string' },
      'spool-dir': { type: 'string' },
      'spool-cap-mb': { type: 'string' },
      'max-in-flight': { type: 'string' },
      'max-concurrent': { type: 'string' },
      'per-target-concurrent': { type: 'string' },
      'log-level': { type: 'string' },
      'ping-before-poll': { type: 'string' },
      'max-offline-hours': { type: 'string' },
      json: { type: 'boolean' },
      server: { type: 'string' },
      token: { type: 'string' },
      'token-env': { type: 'string' },
      fingerprint: { type: 'string' },
      port: { type: 'string' },
      https: { type: 'boolean' },
      insecure: { type: 'boolean' },
      auth: { type: 'string' },
      user: { type: 'string' },
      domain: { type: 'string' },
      'password-env': { type: 'string' },
      plugin: { type: 'string' },
      'port-scan': { type: 'boolean' },
      'authenticate-unverified': { type: 'boolean' },
      timeout: { type: 'string' },
    },
  });
  if (values.version) return void process.stdout.write(`${AGENT_VERSION}\n`);
  const cmd = positionals[0];
  if (values.help || !cmd) return void process.stdout.write(`${HELP}\n`);
  const { loadAgentConfig } = await import('./config.ts');
  const cfg = loadAgentConfig(values as Record<string, string | boolean | undefined>, env);

  /** A positive whole number from a flag, or exit 2 naming the flag. */
  const intFlag = (name: 'port' | 'timeout', max: number): number | undefined => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > max)
      fail(`--${name} must be a whole number from 1 to ${max} (got '${raw}')`, 2);
    return n;
  };
  if (values.auth !== undefined && values.auth !== 'ntlm' && values.auth !== 'basic')
    fail(`--auth must be ntlm or basic (got '${values.auth}')`, 2);

  const credentialFromFlags = () => {
    if (!values.user) return null;
    const password = values['password-env'] ? env[values['password-env']] : env.NMSLITE_PASSWORD;
    if (password === undefined)
      fail(`no password: set the environment variable named by --password-env (or NMSLITE_PASSWORD)`, 2);
    return {
      type: values.auth === 'basic' ? ('winrm_basic' as const) : ('winrm_ntlm' as const),
      username: values.user,
      password: password!,
      domain: values.domain ?? null,
      tls_verify: values.insecure ? ('insecure' as const) : ('verify' as const),
    };
  };

  switch (cmd) {
    case 'enroll': {
      // --token-env keeps the one-time token out of the process list and shell history.
      const token = values['token-env'] ? env[values['token-env']] : (values.token ?? env.NMSLITE_ENROLLMENT_TOKEN);
      if (values['token-env'] && !token)
        fail(`no enrollment token: the environment variable ${values['token-env']} is not set`, 2);
      if (!values.server || !token)
        fail('enroll needs --server wss://HOST:8443 and --token TOKEN (or --token-env VAR)', 2);
      const { enroll } = await import('./enroll.ts');
      const id = await enroll({
        server: values.server!,
        token: token!,
        identityPath: cfg.identity,
        proxy: cfg.proxy,
        onStep: (text) => progress.step(text),
        ...(values.fingerprint ? { fingerprint: values.fingerprint } : {}),
      });
      print({
        enrolled: true,
        agent_id: id.agent_id,
        name: id.name,
        server: id.server,
        server_fingerprint: id.server_fingerprint,
        identity: cfg.identity,
      });
      return;
    }
    case 'run': {
      const [{ createAgentLog }, { startAgent }, { boundHeapGrowth }] = await Promise.all([
        import('./log.ts'),
        import('./agent.ts'),
        import('./heap-tuning.ts'),
      ]);
      boundHeapGrowth();
      const log = createAgentLog(cfg.log_level);
      const agent = startAgent(cfg, log);
      const stop = async (sig: string) => {
        log.info({ sig }, 'stopping');
        await agent.stop();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
      const reason = await agent.fatal;
      await agent.stop();
      fail(reason, 3);
      return;
    }
    case 'status': {
      const [{ loadIdentity }, { collectAgentStatus, formatAgentStatus }] = await Promise.all([
        import('./identity.ts'),
        import('./agent-status.ts'),
      ]);
      const id = loadIdentity(cfg.identity);
      progress.update(`reading the schedule, state and spool in ${cfg.home}…`);
      // Read-only: the agent may be running and writing these files right now.
      const st = collectAgentStatus(cfg, id, { version: AGENT_VERSION, hostname: hostname() });
      progress.clear();
      if (values.json || !process.stdout.isTTY) return print(st);
      process.stdout.write(`${formatAgentStatus(st)}\n`);
      return;
    }
    case 'collect': {
      const host = positionals[1];
      if (!host) fail('collect needs a HOST', 2);
      const [{ createRegistry, pluginsDirOf }, { collectOnce }] = await Promise.all([
        import('./collectors/registry.ts'),
        import('./collectors/collect-once.ts'),
      ]);
      const registry = createRegistry({ pluginsDir: pluginsDirOf(cfg.home) });
      const useSsl = Boolean(values.https);
      const port = intFlag('port', 65535) ?? (useSsl ? 5986 : 5985);
      const plugin = values.plugin ?? 'windows-wmi';
      const credential = credentialFromFlags();
      progress.update(`collecting from ${host}:${port} (${useSsl ? 'HTTPS' : 'HTTP'}) with ${plugin}…`);
      const res = await collectOnce({
        registry,
        plugin: { type: plugin },
        target: { ip: host!, port, use_ssl: useSsl },
        credential,
        timeoutMs: intFlag('timeout', 3_600_000) ?? 30_000,
      });
      registry.close();
      progress.clear();
      if (res.ok) return print({ host, time: new Date().toISOString(), ...res.metrics });
      print({ host, error: res.failure });
      process.exit(1);
      return;
    }
    case 'discover': {
      const target = positionals[1];
      if (!target) fail('discover needs a TARGET (CIDR, range a-b, or comma list)', 2);
      const { discover } = await import('./discovery/discover.ts');
      const portScan = Boolean(values['port-scan']);
      const credential = credentialFromFlags();
      progress.step(
        `discovering ${target}: ${portScan ? 'probing every address' : 'ping sweep'}, then WinRM on the hosts found…`,
      );
      const res = await discover({
        target: target!,
        portScan,
        credential,
        // Without it the credential goes only to HTTPS hosts with a verified certificate (see README: discovery and credentials).
        authenticateUnverified: Boolean(values['authenticate-unverified']),
        onProgress: (p) =>
          progress.update(
            `swept ${p.scanned}/${p.total} addresses, ${p.found} Windows host${p.found === 1 ? '' : 's'}`,
          ),
      });
      progress.done();
      return print(res);
    }
    default:
      fail(`unknown command '${cmd}' (see --help)`, 2);
  }
}

main(process.argv.slice(2), process.env).catch((err: unknown) => {
  // Enrollment, identity, config and pinning errors carry a message written for the operator.
  const msg = (err as Error)?.message ?? String(err);
  fail((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? `${msg} (see --help)` : msg);
});
