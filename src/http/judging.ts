/**
 * The body step of the push pipeline (push.ts): gunzip within bounds, parse, and judge the push
 * before it is written (docs/judging.md).
 *
 * - `front-door`: the push is judged against the index of every group (core/judge.ts through an
 *   IndexJudge) and recorded there before the write; once a replica stored it, what it took away
 *   is let go of (settle), and a write every replica refused is undone. A
 *   refused push is recorded as a checked Pushgateway records it (its push_failure_time_seconds),
 *   by sending the backends a push they refuse — unless that record would itself be inconsistent
 *   (a poison push): then nothing is stored anywhere. A judged, stored PUT or POST is answered 200,
 *   as a checked Pushgateway answers (unchecked ones answer 202).
 * - `backends`: the backends judge; only the pushes that would poison a checked Pushgateway are
 *   refused here.
 *
 * In both modes the body is parsed, so no body a Pushgateway would choke on (a 16 GiB protobuf
 * length prefix, a gzip bomb) reaches one, and the original bytes are what the backends get.
 */
import type { JudgeConfig } from '../config/schema.js';
import { REFUSED_PUSH_BODY } from '../core/exposition.js';
import type { GroupingKey } from '../core/grouping-key.js';
import { isEmptyChange } from '../core/index-table.js';
import type { GroupWrite, WriteMethod } from '../core/judge.js';
import { parsePushBody } from '../core/parse-push-body.js';
import type { BodyLimits, PushedFamily } from '../core/push-body.js';
import { PUSHGATEWAY_OWN_FAMILIES } from '../core/pushgateway-own.js';
import type { IndexJudge } from '../judge/index-judge.js';
import type { Accepted, Judgement } from '../judge/judge-service.js';
import type { WriteOutcome } from '../write/outcome.js';
import type { JudgeRefusal } from './self-metrics.js';
import { isIndexStoreUnavailable } from '../judge/index-store.js';
import { OVERLOADED_RETRY_AFTER, type BodyBudget } from './body-budget.js';
import { inflateBody } from './inflate.js';
import type { PushRequest, Refusal } from './push.js';

/** What the body step decided. */
export type Judged =
  /**
   * Write it; `settle` turns the write's outcome into the answer (and settles or undoes its record
   * in the index); `cancel` takes the record back when the push is refused after all, unwritten.
   */
  | {
      readonly kind: 'write';
      readonly settle: ((outcome: WriteOutcome) => Promise<WriteOutcome>) | undefined;
      readonly cancel: (() => Promise<unknown>) | undefined;
    }
  /** One of pushring's own errors. */
  | { readonly kind: 'refused'; readonly refusal: Refusal }
  /**
   * The Pushgateway's own answer (`body` as it sends it). `markFailed`: first send the backends
   * the refused push that makes them record this one's failure, as a checked Pushgateway does.
   */
  | {
      readonly kind: 'pushgateway';
      readonly status: number;
      readonly body: string;
      readonly markFailed: boolean;
      readonly reason: Extract<JudgeRefusal, 'invalid_body' | 'inconsistent' | 'poison'>;
    };

export interface BodyJudge {
  judge(key: GroupingKey, method: WriteMethod, request: PushRequest): Promise<Judged> | Judged;
}

const WRITE: Judged = Object.freeze({ kind: 'write', settle: undefined, cancel: undefined });
const UNAVAILABLE: Judged = Object.freeze({ kind: 'refused', refusal: Object.freeze({ code: 'PUSHRING_JUDGE_UNAVAILABLE', context: undefined }) } as const);
const EMPTY = Buffer.alloc(0);
const NO_FAMILIES = Object.freeze({ kind: 'body', families: Object.freeze([]) }) satisfies { kind: 'body'; families: readonly PushedFamily[] };

/** The refused push sent to mark a group's failure (see copy-group.ts), and its header. */
export const MARK_FAILED_BODY = Buffer.from(REFUSED_PUSH_BODY);
export const MARK_FAILED_HEADERS: readonly string[] = ['content-type', 'text/plain; version=0.0.4'];

export function createBodyJudge(
  config: JudgeConfig,
  index: IndexJudge | undefined,
  refused: (reason: JudgeRefusal) => void = () => {},
  /** Where a gunzipped body is reserved beside the body received (the app's); absent: not counted. */
  bodies?: BodyBudget,
): BodyJudge {
  const limits: BodyLimits = {
    maxFamilies: config.maxFamilies,
    maxSeries: config.maxSeriesPerPush,
    maxLabelsPerSeries: config.maxLabelsPerSeries,
    maxStringBytes: config.maxStringBytes,
  };
  const limitKeys: Record<keyof BodyLimits, string> = {
    maxFamilies: 'maxFamilies',
    maxSeries: 'maxSeriesPerPush',
    maxLabelsPerSeries: 'maxLabelsPerSeries',
    maxStringBytes: 'maxStringBytes',
  };

  /** The families of a PUT or POST (none for a DELETE), or the answer that stops the push. */
  const readBody = (request: PushRequest, method: WriteMethod): { readonly kind: 'body'; readonly families: readonly PushedFamily[] } | Judged => {
    const raw: Buffer = request.body instanceof Buffer ? (request.body as Buffer) : EMPTY;
    // A Pushgateway gunzips every request, DELETE too, and refuses a bad gzip body.
    const inflated = inflateBody(raw, headerOf(request, 'content-encoding'), config.maxInflatedBytes);
    if (!inflated.ok) {
      if (inflated.kind === 'invalid')
        return { kind: 'pushgateway', status: 400, body: goErrorBody(inflated.message), markFailed: false, reason: 'invalid_body' };
      return { kind: 'refused', refusal: { code: 'PUSHRING_BODY_LIMIT', context: { limit: 'maxInflatedBytes', max: inflated.max } } };
    }
    // The inflated body and what is parsed of it live until the push is answered.
    if (inflated.body !== raw && bodies !== undefined && !bodies.take(request.raw ?? request, inflated.body.length))
      return { kind: 'refused', refusal: { code: 'PUSHRING_OVERLOADED', context: { limitBytes: bodies.maxBytes }, headers: OVERLOADED_RETRY_AFTER } };
    if (method === 'DELETE') return NO_FAMILIES;
    const parsed = parsePushBody(inflated.body, headerOf(request, 'content-type'), limits, inflated.streamError);
    if (parsed.ok) return { kind: 'body', families: parsed.families };
    if (parsed.kind === 'invalid') return { kind: 'pushgateway', status: 400, body: goErrorBody(parsed.message), markFailed: false, reason: 'invalid_body' };
    return { kind: 'refused', refusal: { code: 'PUSHRING_BODY_LIMIT', context: { limit: limitKeys[parsed.limit], max: parsed.max } } };
  };

  if (config.mode === 'backends' || index === undefined) {
    return counting(refused, {
      judge(key, method, request) {
        const body = readBody(request, method);
        if (body.kind !== 'body') return body;
        const poison = poisonOf(key, body.families);
        return poison === undefined ? WRITE : { kind: 'refused', refusal: { code: 'PUSHRING_POISON_PUSH', context: { reason: poison } } };
      },
    });
  }

  return counting(refused, {
    async judge(key, method, request) {
      const body = readBody(request, method);
      if (body.kind !== 'body') return body;
      if (!(await index.ready(config.startTimeoutMs))) return { kind: 'refused', refusal: { code: 'PUSHRING_JUDGE_STARTING', context: undefined } };
      const write: GroupWrite = { group: key.canonical, labels: key.labels, method, families: body.families };
      let verdict: Judgement;
      try {
        verdict = await index.judge(write);
      } catch (err) {
        if (isIndexStoreUnavailable(err)) return UNAVAILABLE;
        throw err;
      }
      if (verdict.ok) {
        const accepted = verdict;
        return {
          kind: 'write',
          settle: (outcome) => settleJudged(outcome, method, accepted, index),
          cancel: () => index.undo(accepted).catch(() => false),
        };
      }
      switch (verdict.kind) {
        case 'busy':
          return { kind: 'refused', refusal: { code: 'PUSHRING_JUDGE_BUSY', context: { group: key.canonical } } };
        case 'unbuilt':
          return { kind: 'refused', refusal: { code: 'PUSHRING_JUDGE_STARTING', context: undefined } };
        case 'full':
          return { kind: 'refused', refusal: { code: 'PUSHRING_INDEX_FULL', context: { maxSeries: verdict.maxSeries } } };
        case 'inconsistent': {
          let recorded;
          try {
            recorded = await index.recordFailure(write, verdict);
          } catch (err) {
            if (isIndexStoreUnavailable(err)) return UNAVAILABLE;
            throw err;
          }
          if (recorded === 'busy') return { kind: 'refused', refusal: { code: 'PUSHRING_JUDGE_BUSY', context: { group: key.canonical } } };
          // 'poison': even the Pushgateway's record of the refusal would be inconsistent, so nothing
          // is stored anywhere; 'stale': the index moved on meanwhile, and the refusal stands unrecorded.
          return {
            kind: 'pushgateway',
            status: 400,
            body: goErrorBody(verdict.message),
            markFailed: recorded === 'recorded',
            reason: recorded === 'poison' ? 'poison' : 'inconsistent',
          };
        }
      }
    },
  });
}

const REASON_OF: Partial<Record<Refusal['code'], JudgeRefusal>> = {
  PUSHRING_BODY_LIMIT: 'body_limit',
  PUSHRING_POISON_PUSH: 'poison',
  PUSHRING_JUDGE_UNAVAILABLE: 'unavailable',
  PUSHRING_JUDGE_BUSY: 'busy',
  PUSHRING_JUDGE_STARTING: 'starting',
  PUSHRING_INDEX_FULL: 'index_full',
};

/** Counts what `inner` refuses, by reason (self-metrics). */
function counting(refused: (reason: JudgeRefusal) => void, inner: BodyJudge): BodyJudge {
  const count = (judged: Judged): Judged => {
    if (judged.kind === 'pushgateway') refused(judged.reason);
    else if (judged.kind === 'refused') {
      const reason = REASON_OF[judged.refusal.code];
      if (reason !== undefined) refused(reason);
    }
    return judged;
  };
  return {
    judge(key, method, request) {
      const judged = inner.judge(key, method, request);
      return judged instanceof Promise ? judged.then(count) : count(judged);
    },
  };
}

/** Go's http.Error(w, message, …) body: the message and a newline. */
function goErrorBody(message: string): string {
  return message.endsWith('\n') ? message : message + '\n';
}

/**
 * A request header as Go's Header.Get reads it: the first value given, from the raw headers
 * (Node joins repeated ones, and the push route replaces Content-Type for Fastify's parser).
 */
function headerOf(request: PushRequest, name: string): string | undefined {
  const raw = request.raw?.rawHeaders;
  if (raw === undefined) {
    const value = request.headers[name];
    return typeof value === 'string' ? value : undefined;
  }
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) return raw[i + 1];
  }
  return undefined;
}

const STORED_200 = { status: 200, body: EMPTY, contentType: undefined } as const;

/**
 * A stored PUT/POST is answered as a checked Pushgateway answers. What the index does depends on
 * what the replicas did (write/outcome.ts):
 * - some replica stored it (a success, or a failure with `stored` > 0): settle — the write is on
 *   its way into the replicas' queues, so what it took away may be claimed by others;
 * - every replica refused it (a 4xx, nothing stored, nothing kept to replay): undo;
 * - otherwise (a time-out, a lost connection, 5xx, no replica reachable) it may still land, now or
 *   replayed from a hint: neither — the index keeps both the old state and the claim, which only
 *   makes it stricter (docs/judging.md).
 */
async function settleJudged(outcome: WriteOutcome, method: WriteMethod, accepted: Accepted, index: IndexJudge): Promise<WriteOutcome> {
  if (outcome.stored > 0) {
    if (!isEmptyChange(accepted.settle)) await index.settle(accepted).catch(() => false);
    return outcome.kind === 'answer' && method !== 'DELETE' ? { ...outcome, ...STORED_200 } : outcome;
  }
  // A later write to the group has its own record: undo expects ours, so it leaves theirs.
  if (outcome.kind === 'answer') await index.undo(accepted).catch(() => false);
  return outcome;
}

/**
 * What poisons a checked Pushgateway 1.5.1 whatever else it holds (docs/judging.md): it stores a
 * refused push's failure time even when that record itself is inconsistent.
 */
function poisonOf(key: GroupingKey, families: readonly PushedFamily[]): string | undefined {
  for (const [name, value] of key.labels) {
    if (name === 'instance' && value === '') {
      return 'the grouping label "instance" is empty: the group then has the same push_time_seconds series as the group without it';
    }
    if (!value.isWellFormed()) return `the value of the grouping label "${name}" is not UTF-8`;
  }
  for (const family of families) {
    if (family.name === 'push_failure_time_seconds') {
      return 'the push carries push_failure_time_seconds, a family the Pushgateway keeps for each group itself';
    }
    // Its own families created on first use are missing from predefinedHelp: another help poisons it.
    const own = PUSHGATEWAY_OWN_FAMILIES.get(family.name);
    if (own !== undefined && !own.presentAtStart && family.help !== own.help) {
      return `the push carries ${family.name}, a family of the Pushgateway's own, with another help text`;
    }
  }
  return undefined;
}
