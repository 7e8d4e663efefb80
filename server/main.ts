import { ConfigError, loadConfig, parseConfig } from './config.ts';
import { startServer } from './server.ts';
import { formatFingerprint } from './tls.ts';

async function main(): Promise<void> {
  const cfg = parseConfig(loadConfig(process.argv.slice(2), process.env));
  const started = Date.now();
  const s = await startServer(cfg);
  const out = (line = '') => process.stderr.write(`${line}\n`);
  out();
  out(`NMSlite is up at ${s.url} (${Date.now() - started} ms; metrics storage: ${s.storageMode})`);
  out(`TLS certificate SHA-256 fingerprint: ${formatFingerprint(s.fingerprint)}`);
  if (s.generatedPassword) {
    out(`Admin login (generated once, shown only now; stored in ${cfg.data_dir}/secrets.json):`);
    out(`  username: ${cfg.auth.username}`);
    out(`  password: ${s.generatedPassword}`);
  } else
    out(`Log in as '${cfg.auth.username}' with the configured password (or the one in ${cfg.data_dir}/secrets.json).`);
  out(
    `  curl -k -X POST ${s.url}/api/v1/auth/login -H 'content-type: application/json' -d '{"username":"${cfg.auth.username}","password":"…"}'`,
  );
  out();
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    s.log.info({ sig }, 'shutting down');
    await s.stop().catch(() => {});
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  const msg =
    err instanceof ConfigError
      ? `configuration error: ${err.message}`
      : `cannot start: ${(err as Error)?.message ?? String(err)}`;
  process.stderr.write(`nmslite: ${msg}\n`);
  process.exit(1);
});
