/**
 * The push route as a pipeline: parse the grouping path, run the checks in order (each lets the
 * push through or answers it), read and judge the body (judging.ts), write the group
 * (write/group-write.ts), answer. A new rule is a new check in the list app.ts hands to
 * createPushHandler.
 *
 * The hot path (DESIGN.md): per push, the parsed body and the judge's reads and changes, the
 * request to the replicas; a check that decides synchronously is not awaited.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { Cluster } from '../backends/cluster.js';
import type { AckPolicy } from '../config/schema.js';
import type { GroupingKey } from '../core/grouping-key.js';
import type { Limiter } from '../limits/limiter.js';
import type { Decision } from '../limits/store.js';
import type { WriteObserver } from '../write/fan-out.js';
import { writeGroup } from '../write/group-write.js';
import { forwardedHeaders } from '../write/headers.js';
import { groupingPathOf } from './request-path.js';
import type { WriteOutcome } from '../write/outcome.js';
import { ERRORS, sendError, type ErrorCode, type ErrorContext } from './errors.js';
import { TEXT, isPushMethod, refuse } from './go-compat.js';
import { MARK_FAILED_BODY, MARK_FAILED_HEADERS, type BodyJudge } from './judging.js';

/** What a check may look at besides the grouping key (a FastifyRequest is one). */
export interface PushRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** The body as received (a Buffer); what reaches the backends, byte for byte. */
  readonly body: unknown;
  /** The headers as the client sent them (`headers` has a Content-Type of Fastify's). */
  readonly raw?: { readonly rawHeaders: readonly string[] };
}

/** A check's answer to a push it stops: one of pushring's errors, and headers to send with it. */
export type Refusal = {
  [C in ErrorCode]: { readonly code: C; readonly context: ErrorContext<C>; readonly headers?: Readonly<Record<string, string>> };
}[ErrorCode];

/**
 * One rule a push must pass: undefined lets it through, a Refusal is the answer. A check answers
 * synchronously when it can; a promise is awaited, a value is not.
 */
export type Check = (key: GroupingKey, request: PushRequest) => Refusal | undefined | Promise<Refusal | undefined>;

/**
 * With honor_labels, a pushed shard or replica label would hide the target's: both replicas'
 * copies would become one series.
 */
export function checkReservedLabels(discovery: { readonly shardLabel: string; readonly replicaLabel: string }): Check {
  const { shardLabel, replicaLabel } = discovery;
  return (key) => {
    const { labels } = key;
    for (let i = 0; i < labels.length; i++) {
      const name = labels[i]![0];
      if (name === shardLabel || name === replicaLabel) return { code: 'PUSHRING_RESERVED_LABEL', context: { label: name } };
    }
    return undefined;
  };
}

/** The job's push limit (limits/), DELETEs included only with limits.limitDeletes. */
export function checkRateLimit(limiter: Limiter): Check {
  return (key, request) => {
    if (request.method === 'DELETE' && !limiter.limitDeletes) return undefined;
    const decision = limiter.check(key.job);
    return decision instanceof Promise ? refuseOverLimitLater(decision, key.job) : refuseOverLimit(decision, key.job);
  };
}

function refuseOverLimit(decision: Decision | undefined, job: string): Refusal | undefined {
  if (decision === undefined || decision.allowed) return undefined;
  const retryAfterS = Math.max(1, Math.ceil(decision.resetMs / 1000));
  const { rule } = decision;
  return {
    code: 'PUSHRING_RATE_LIMITED',
    context: { job, rule: rule.name, pushes: rule.pushes, windowSeconds: rule.windowSeconds, retryAfterS },
    headers: {
      'retry-after': String(retryAfterS),
      'x-ratelimit-limit': String(rule.pushes),
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(retryAfterS),
    },
  };
}

async function refuseOverLimitLater(decision: Promise<Decision | undefined>, job: string): Promise<Refusal | undefined> {
  return refuseOverLimit(await decision, job);
}

/**
 * While this front door's ring cannot be written safely (cluster.fence, docs/resizing.md), a
 * push whose owner differs under any of the fencing rings is refused. It is the handler's
 * `lastCheck`: with no await between it and the write, both see the same ring.
 */
export function checkFence(cluster: Pick<Cluster, 'fence' | 'ownerOf'>): (key: GroupingKey, request?: PushRequest) => Refusal | undefined {
  return (key) => {
    const fence = cluster.fence;
    if (fence === undefined) return undefined;
    const owner = cluster.ownerOf(key.canonical).name;
    for (const ring of fence) {
      const shard = ring.ownerOf(key.canonical);
      if (shard !== owner) return { code: 'PUSHRING_RING_BEHIND', context: { shard } };
    }
    return undefined;
  };
}

export interface PushHandlerOptions {
  readonly cluster: Pick<Cluster, 'ownerOf' | 'previousOwnerOf'>;
  readonly ack: AckPolicy;
  /** In order; the first refusal answers the push. */
  readonly checks: readonly Check[];
  /** Reads the body and judges the push, after the checks and before the write. */
  readonly judge: BodyJudge;
  /**
   * Decides synchronously right before the write, after the judge's awaits: the fence (a ring
   * change applied meanwhile must not send the write to an owner nobody checked).
   */
  readonly lastCheck?: (key: GroupingKey, request: PushRequest) => Refusal | undefined;
  readonly observer: WriteObserver;
  readonly countPush: (method: string, status: number) => void;
  readonly log: FastifyBaseLogger;
  /** Throttles the log line of a failed push, per shard. */
  readonly shouldLog: (key: unknown) => boolean;
}

/** The handler of every method on a push path. */
export function createPushHandler(options: PushHandlerOptions): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const { cluster, ack, checks, judge, lastCheck, observer, countPush, log, shouldLog } = options;

  const sendRefusal = async (reply: FastifyReply, method: string, refusal: Refusal): Promise<void> => {
    countPush(method, ERRORS[refusal.code].status);
    // Code and context belong together by construction of Refusal.
    await sendError(reply, refusal.code, refusal.context as never, refusal.headers);
  };

  const answer = async (reply: FastifyReply, method: string, outcome: WriteOutcome): Promise<void> => {
    if (outcome.kind === 'answer') {
      countPush(method, outcome.status);
      reply.code(outcome.status);
      if (outcome.contentType !== undefined) reply.header('content-type', outcome.contentType);
      if (outcome.status >= 400) reply.header('x-content-type-options', 'nosniff');
      // An empty success has no Content-Type, as from a Pushgateway (Fastify would add one).
      await reply.send(outcome.body.length > 0 ? outcome.body : undefined);
      return;
    }
    const { shard, stored, replicas, required } = outcome;
    const code = `PUSHRING_${outcome.code}` as const;
    if (shouldLog(shard)) log.warn({ shard, code, stored, required }, 'push failed: too few replicas stored it');
    countPush(method, ERRORS[code].status);
    await sendError(reply, code, { shard, stored, replicas, required });
  };

  return async (request, reply) => {
    const parsed = groupingPathOf(request);
    const method = request.method;
    if (!parsed.ok || !isPushMethod(method)) {
      await refuse(reply, parsed, method, countPush);
      return;
    }
    const { key } = parsed;
    for (let i = 0; i < checks.length; i++) {
      const checked = checks[i]!(key, request);
      const refusal = checked instanceof Promise ? await checked : checked;
      if (refusal !== undefined) {
        await sendRefusal(reply, method, refusal);
        return;
      }
    }
    const judged = await judge.judge(key, method, request);
    if (judged.kind === 'refused') {
      await sendRefusal(reply, method, judged.refusal);
      return;
    }
    const receivedAt = Date.now();
    if (judged.kind === 'pushgateway') {
      if (judged.markFailed) {
        // As a checked Pushgateway records a push it refuses, before it answers.
        const mark = {
          group: key.canonical,
          method: 'POST',
          path: request.url,
          headers: MARK_FAILED_HEADERS as string[],
          body: MARK_FAILED_BODY,
          receivedAt,
        } as const;
        await writeGroup(cluster, ack, mark, observer);
      }
      countPush(method, judged.status);
      await reply.code(judged.status).type(TEXT).header('x-content-type-options', 'nosniff').send(judged.body);
      return;
    }
    const late = lastCheck?.(key, request);
    if (late !== undefined) {
      await judged.cancel?.();
      await sendRefusal(reply, method, late);
      return;
    }
    // DELETE bodies go too: a Pushgateway gunzips every request and refuses a bad gzip body.
    const body = request.body instanceof Buffer ? request.body : null;
    const outgoing = { group: key.canonical, method, path: request.url, headers: forwardedHeaders(request.raw.rawHeaders), body, receivedAt };
    const outcome = await writeGroup(cluster, ack, outgoing, observer);
    await answer(reply, method, judged.settle === undefined ? outcome : await judged.settle(outcome));
  };
}
