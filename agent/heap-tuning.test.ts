import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// A poller-like workload: many batches of objects that survive a few collections (requests in
// flight), allocated across event-loop turns as the agent does. Prints the largest young generation.
const WORKLOAD = `
import { getHeapSpaceStatistics } from 'node:v8';
if (process.argv.includes('--tuned')) (await import('./agent/heap-tuning.ts')).boundHeapGrowth();
const inFlight = [];
let maxYoung = 0;
for (let round = 0; round < 400; round++) {
  const batch = [];
  for (let i = 0; i < 4000; i++) batch.push({ round, i, text: 'x'.repeat(20) + i });
  inFlight.push(batch);
  if (inFlight.length > 30) inFlight.shift();
  await new Promise((r) => setImmediate(r));
  const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
  maxYoung = Math.max(maxYoung, young);
}
console.log(maxYoung);
`;

function maxYoungMb(tuned: boolean): number {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', WORKLOAD, '--', ...(tuned ? ['--tuned'] : [])],
    { cwd: ROOT, encoding: 'utf8' },
  );
  return Number(out.trim()) / 1048576;
}

test('the agent keeps the young generation small where V8 would let it grow', () => {
  const plain = maxYoungMb(false);
  const tuned = maxYoungMb(true);
  console.log(`young generation: ${plain} MB by default, ${tuned} MB tuned`);
  assert.ok(plain >= 16, `the workload must make V8 grow the young generation by default (grew to ${plain} MB)`);
  assert.ok(tuned <= 8, `with boundHeapGrowth the young generation stays small (grew to ${tuned} MB)`);
});
