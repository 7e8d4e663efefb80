import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFpingOutput } from './sweep.ts';

test('fping output yields only the answering addresses, ignoring ICMP error lines', () => {
  const out =
    '10.0.0.1\n10.0.0.7\nICMP Host Unreachable from 10.0.0.254 for ICMP Echo sent to 10.0.0.9\n\n 10.0.0.12 \n';
  assert.deepEqual([...parseFpingOutput(out)], ['10.0.0.1', '10.0.0.7', '10.0.0.12']);
  assert.equal(parseFpingOutput('').size, 0);
});
