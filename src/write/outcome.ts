/**
 * What the client hears about a push, decided from what each replica answered. Pure: the
 * ack-policy table in README.md is tested against this function.
 */
import { isAnswer, type ReplicaResult } from '../backends/client.js';
import type { AckPolicy } from '../config/schema.js';

export type Outcome =
  /** The Pushgateway's own answer, passed through: a success, or a rejection of the push. */
  | { readonly kind: 'answer'; readonly status: number; readonly body: Buffer; readonly contentType: string | undefined; readonly stored: number }
  /** Too few replicas stored the push; `code` names the failure for the error catalogue. */
  | { readonly kind: 'failed'; readonly code: FailureCode; readonly stored: number; readonly required: number };

export type FailureCode = 'SHARD_UNAVAILABLE' | 'SHARD_TIMEOUT' | 'SHARD_BAD_GATEWAY' | 'ACK_NOT_MET';

/**
 * What the client of a write hears: a replica's answer, or a failure that names its shard
 * (`MOVE_INCOMPLETE`: a moving group's new owner failed after its old owner stored the push).
 */
export type WriteOutcome =
  | Extract<Outcome, { readonly kind: 'answer' }>
  | {
      readonly kind: 'failed';
      readonly code: FailureCode | 'MOVE_INCOMPLETE';
      readonly shard: string;
      readonly replicas: number;
      readonly stored: number;
      readonly required: number;
    };

/** How many replicas must store a push under a policy, for a shard of `replicas` replicas. */
export function requiredAcks(policy: AckPolicy, replicas: number): number {
  if (policy === 'one') return 1;
  if (policy === 'all') return replicas;
  return Math.floor(replicas / 2) + 1;
}

/**
 * - Enough 2xx answers: the first 2xx answer (replicas that failed are repaired later).
 * - Otherwise a 4xx from any replica: the Pushgateway refused the push itself (bad body,
 *   inconsistent metrics), so its answer goes back unchanged, as a lone Pushgateway's would.
 *   A replica refusing pushring's own credentials is no such answer: client.ts settles it as
 *   `unreachable` (nothing stored), so the other replicas decide and a client never hears a
 *   401 meant for pushring.
 * - Otherwise a failure: 503 when some stored it but fewer than the policy needs; 504 when a
 *   replica may have stored it without saying so (time-out, dropped connection), since "not
 *   stored" would then be a lie; 502 when replicas answered 5xx; 503 when none could be reached.
 */
export function decideOutcome(results: readonly ReplicaResult[], required: number): Outcome {
  let firstOk: ReplicaResult | undefined;
  let firstRejection: ReplicaResult | undefined;
  let stored = 0;
  let uncertain = 0;
  let serverErrors = 0;
  for (const result of results) {
    if (!isAnswer(result)) {
      if (result.failure !== 'unreachable') uncertain++;
      continue;
    }
    if (result.status >= 200 && result.status < 300) {
      stored++;
      firstOk ??= result;
    } else if (result.status >= 400 && result.status < 500) {
      firstRejection ??= result;
    } else {
      serverErrors++;
    }
  }
  const pick = stored >= required ? firstOk : firstRejection;
  if (pick !== undefined && isAnswer(pick)) {
    return { kind: 'answer', status: pick.status, body: pick.body, contentType: pick.contentType, stored };
  }
  let code: FailureCode;
  if (stored > 0) code = 'ACK_NOT_MET';
  else if (uncertain > 0) code = 'SHARD_TIMEOUT';
  else if (serverErrors > 0) code = 'SHARD_BAD_GATEWAY';
  else code = 'SHARD_UNAVAILABLE';
  return { kind: 'failed', code, stored, required };
}
