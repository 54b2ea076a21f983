import { describe, expect, it } from 'vitest';
import type { ReplicaResult } from '../../src/backends/client.js';
import { decideOutcome, requiredAcks } from '../../src/write/outcome.js';

const answer = (status: number, body = `${status}`): ReplicaResult => ({ status, body: Buffer.from(body), contentType: 'text/plain' });
const ok = answer(200, '');
const bad = answer(400, 'invalid');
const down: ReplicaResult = { failure: 'unreachable' };
const slow: ReplicaResult = { failure: 'timeout' };
const released: ReplicaResult = { failure: 'down' };
const lost: ReplicaResult = { failure: 'unknown' };
/** A replica refusing pushring's own credentials (client.ts settles its 401/403 so): nothing stored. */
const refused: ReplicaResult = { failure: 'unreachable', error: new Error("the replica refused pushring's credentials (401)") };

function summary(results: ReplicaResult[], required: number): string {
  const outcome = decideOutcome(results, required);
  return outcome.kind === 'answer' ? `${outcome.status} ${outcome.body.toString()}`.trim() : outcome.code;
}

describe('requiredAcks', () => {
  it.each([
    ['one', 2, 1],
    ['one', 3, 1],
    ['majority', 1, 1],
    ['majority', 2, 2],
    ['majority', 3, 2],
    ['all', 3, 3],
  ] as const)('%s of %i replicas needs %i', (policy, replicas, required) => {
    expect(requiredAcks(policy, replicas)).toBe(required);
  });
});

describe('decideOutcome (the ack-policy table of README.md)', () => {
  it.each([
    ['both stored', [ok, ok], 1, '200'],
    ['one stored, the twin unreachable', [ok, down], 1, '200'],
    ['one stored, the twin timed out', [slow, ok], 1, '200'],
    ['one stored, the twin answered 500', [answer(500), ok], 1, '200'],
    ['one stored, the twin refused it (diverged replicas)', [bad, ok], 1, '200'],
    ['both refused it: the Pushgateway answer goes back', [bad, bad], 1, '400 invalid'],
    ['one refused, the twin unreachable', [down, bad], 1, '400 invalid'],
    ['both unreachable', [down, down], 1, 'SHARD_UNAVAILABLE'],
    ['one timed out, one unreachable', [slow, down], 1, 'SHARD_TIMEOUT'],
    ['both answered 5xx', [answer(500), answer(503)], 1, 'SHARD_BAD_GATEWAY'],
    ['one timed out, one answered 5xx: maybe stored, so not "not stored"', [slow, answer(500)], 1, 'SHARD_TIMEOUT'],
    ['one released as down, one unreachable', [released, down], 1, 'SHARD_TIMEOUT'],
    ['connection lost after sending', [lost, down], 1, 'SHARD_TIMEOUT'],
    ['policy all, one stored, one down', [ok, down], 2, 'ACK_NOT_MET'],
    ['policy all, one stored, one refused', [ok, bad], 2, '400 invalid'],
    ['policy all, both stored', [ok, ok], 2, '200'],
    ['DELETE accepted by both', [answer(202, ''), answer(202, '')], 1, '202'],
    ['ack one, one refused our credentials, the twin stored', [refused, ok], 1, '200'],
    ['majority of two, one refused our credentials: ours, never the bare 401', [refused, ok], 2, 'ACK_NOT_MET'],
    ['both refused our credentials', [refused, refused], 1, 'SHARD_UNAVAILABLE'],
    ['one refused our credentials, the twin refused the push', [refused, bad], 1, '400 invalid'],
    ['one refused our credentials, the twin timed out', [refused, slow], 1, 'SHARD_TIMEOUT'],
  ])('%s', (_name, results, required, expected) => {
    expect(summary(results, required)).toBe(expected);
  });

  it('never answers 2xx unless a replica answered 2xx', () => {
    const all = [ok, bad, down, slow, released, lost, refused, answer(500), answer(202, '')];
    for (const a of all)
      for (const b of all)
        for (const required of [1, 2]) {
          const outcome = decideOutcome([a, b], required);
          const stored = [a, b].filter((r) => 'status' in r && r.status < 300).length;
          if (outcome.kind === 'answer' && outcome.status < 300) expect(stored).toBeGreaterThanOrEqual(required);
        }
  });
});
