// `npm run winsim -- --hosts 50 [--bind 127.0.0.1] [--port-base 15985] [--user U --password P] [--auth ntlm|basic|both]
//  [--https] [--distinct-addresses] [--seed N] [--tick-ms MS] [--latency-ms MS]`
// Prints one JSON line per host once every host listens, then runs until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { startWinsim } from './start-winsim.ts';

function fail(message: string): never {
  process.stderr.write(`winsim: ${message}\n`);
  process.exit(2);
}

function parseCli() {
  try {
    return parseArgs({
      options: {
        hosts: { type: 'string', default: '10' },
        bind: { type: 'string' },
        'port-base': { type: 'string' },
        user: { type: 'string' },
        password: { type: 'string' },
        auth: { type: 'string' },
        https: { type: 'boolean', default: false },
        'distinct-addresses': { type: 'boolean', default: false },
        seed: { type: 'string' },
        'tick-ms': { type: 'string' },
        'latency-ms': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
}

async function main(): Promise<void> {
  const values = parseCli();
  if (values.help) {
    process.stdout.write(
      'usage: npm run winsim -- --hosts N [--bind 127.0.0.1] [--port-base P] [--user U --password P] [--auth ntlm|basic|both] [--https] [--distinct-addresses] [--seed N] [--tick-ms MS] [--latency-ms MS]\n',
    );
    return;
  }
  const num = (v: string | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) fail(`--${name} must be an integer`);
    return n;
  };
  const auth = values.auth;
  if (auth !== undefined && auth !== 'ntlm' && auth !== 'basic' && auth !== 'both')
    fail('--auth must be ntlm, basic or both');
  let sim: Awaited<ReturnType<typeof startWinsim>>;
  try {
    const latency = num(values['latency-ms'], 'latency-ms');
    sim = await startWinsim({
      hosts: num(values.hosts, 'hosts')!,
      ...(values.bind !== undefined ? { bind: values.bind } : {}),
      ...(values['port-base'] !== undefined ? { portBase: num(values['port-base'], 'port-base')! } : {}),
      ...(values.user !== undefined ? { user: values.user } : {}),
      ...(values.password !== undefined ? { password: values.password } : {}),
      ...(auth !== undefined ? { auth } : {}),
      https: values.https,
      distinctAddresses: values['distinct-addresses'],
      ...(values.seed !== undefined ? { seed: num(values.seed, 'seed')! } : {}),
      ...(values['tick-ms'] !== undefined ? { tickMs: num(values['tick-ms'], 'tick-ms')! } : {}),
      ...(latency !== undefined ? { faults: { latencyMs: latency } } : {}),
    });
  } catch (err) {
    const e = err as Error & { issues?: { path: (string | number)[]; message: string }[] };
    fail(e.issues ? e.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : e.message);
  }
  let out = '';
  for (const h of sim.hosts) {
    out += `${JSON.stringify({ hostname: h.hostname, address: h.address, port: h.port, user: h.user, password: h.password, auth: h.auth, tls: h.tls, ...(h.fingerprint ? { fingerprint: h.fingerprint } : {}) })}\n`;
  }
  process.stdout.write(out);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void sim.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

void main();
