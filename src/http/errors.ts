/**
 * pushring's own client-visible errors. Each has a stable code (also sent as the
 * `X-Pushring-Error` header), an HTTP status and a message that says what to do. The bodies are
 * plain text, one line, like the Pushgateway's own error bodies. Errors the Pushgateway itself
 * answers (a bad label name, an invalid body) pass through unchanged and have no code here.
 *
 * Each message declares the context it needs: a call site cannot leave out a field its message
 * reads.
 */
import type { FastifyReply } from 'fastify';
import { TEXT, sendGoError } from './go-compat.js';

interface CatalogueEntry {
  readonly status: number;
  readonly message: (context: never) => string;
  /** Sent as Go's http.Error (with `X-Content-Type-Options: nosniff`), as a Pushgateway refuses a push path. */
  readonly goError?: true;
}

export const ERRORS = {
  PUSHRING_SHARD_UNAVAILABLE: {
    status: 503,
    message: (c: { shard: string }) =>
      `pushring: no replica of shard "${c.shard}" could be reached; the push was not stored. Retry later; if it persists, the shard's Pushgateways are down.`,
  },
  PUSHRING_SHARD_TIMEOUT: {
    status: 504,
    message: (c: { shard: string }) =>
      `pushring: no replica of shard "${c.shard}" confirmed the push in time (time-out or lost connection); it may or may not have been stored. Retry it (pushes are idempotent).`,
  },
  PUSHRING_SHARD_BAD_GATEWAY: {
    status: 502,
    message: (c: { shard: string }) =>
      `pushring: the replicas of shard "${c.shard}" failed with server errors; the push was not stored. Retry later; operators: see the Pushgateway logs.`,
  },
  PUSHRING_ACK_NOT_MET: {
    status: 503,
    message: (c: { shard: string; stored: number; replicas: number; required: number }) =>
      `pushring: stored on ${c.stored} of ${c.replicas} replicas of shard "${c.shard}", but the write ack policy needs ${c.required}. Retry the push (pushes are idempotent).`,
  },
  PUSHRING_RING_BEHIND: {
    status: 503,
    message: (c: { shard: string }) =>
      `pushring: this front door's ring does not match the ring in force or the ring change under way (the group belongs to shard "${c.shard}" there); the push was not stored. Retry it through another front door; operators: see this front door's log and give it the current configuration.`,
  },
  PUSHRING_MOVE_INCOMPLETE: {
    status: 503,
    message: (c: { shard: string; stored: number; required: number }) =>
      `pushring: the group is moving to shard "${c.shard}" in a ring change; its current shard stored the push but "${c.shard}" did not (${c.stored} of the ${c.required} replica(s) needed). Retry the push (pushes are idempotent).`,
  },
  PUSHRING_RATE_LIMITED: {
    status: 429,
    message: (c: { job: string; rule: string; pushes: number; windowSeconds: number; retryAfterS: number }) =>
      `pushring: job "${c.job}" is over its limit of ${c.pushes} pushes per ${c.windowSeconds}s (rule "${c.rule}"); the push was not stored. Retry after ${c.retryAfterS}s, or push less often.`,
  },
  PUSHRING_RESERVED_LABEL: {
    status: 400,
    goError: true,
    message: (c: { label: string }) =>
      `pushring: the grouping label "${c.label}" is reserved: Prometheus tells pushring's backends apart by it. Rename the label in the push path (or the operator renames discovery.shardLabel/replicaLabel).`,
  },
  PUSHRING_BODY_TOO_LARGE: {
    status: 413,
    message: (c: { limitBytes: number }) =>
      `pushring: the push body is larger than the ${c.limitBytes}-byte limit (write.maxBodyBytes). Split the push or raise the limit.`,
  },
  PUSHRING_BODY_LIMIT: {
    status: 413,
    message: (c: { limit: string; max: number }) =>
      `pushring: the push body passes the bound judge.${c.limit} (${c.max}); nothing was stored. Split the push, or the operator raises judge.${c.limit}.`,
  },
  PUSHRING_JUDGE_UNAVAILABLE: {
    status: 503,
    message: () =>
      'pushring: the index that judges pushes (Redis) did not answer in time; the push was not stored. Retry later; operators: see the front door log and Redis.',
  },
  PUSHRING_JUDGE_BUSY: {
    status: 503,
    message: (c: { group: string }) =>
      `pushring: pushes to ${c.group} or to the same metric names kept changing the index while this one was judged; it was not stored. Retry it.`,
  },
  PUSHRING_JUDGE_STARTING: {
    status: 503,
    message: () =>
      'pushring: this front door is still reading the groups its backends hold, to judge pushes against them; the push was not stored. Retry in a few seconds.',
  },
  PUSHRING_INDEX_FULL: {
    status: 507,
    message: (c: { maxSeries: number }) =>
      `pushring: the ring holds ${c.maxSeries} series, the bound of judge.maxSeries; the push would add more and was not stored. Delete groups no longer needed, or the operator raises judge.maxSeries.`,
  },
  PUSHRING_POISON_PUSH: {
    status: 400,
    goError: true,
    message: (c: { reason: string }) =>
      `pushring: ${c.reason}; a checked Pushgateway stores such a push even while refusing it, and then fails its scrape. Nothing was stored.`,
  },
  PUSHRING_UNAUTHENTICATED: {
    status: 401,
    message: (c: { problem: string }) =>
      `pushring: ${c.problem}; nothing was done. Send a credential the operator configured: a bearer token (Authorization: Bearer ...), basic auth, or a client certificate.`,
  },
  PUSHRING_FORBIDDEN: {
    status: 403,
    message: (c: { credential: string; action: string }) =>
      `pushring: credential "${c.credential}" may not ${c.action}; nothing was done. Use a credential whose scope covers it, or the operator widens this one (auth.credentials).`,
  },
  PUSHRING_CROSS_SITE: {
    status: 403,
    message: (c: { sign: string }) =>
      `pushring: a browser sent this write from another site's page (${c.sign}); nothing was done. Push from a client, or from the front door's own page.`,
  },
  PUSHRING_AUTH_THROTTLED: {
    status: 429,
    message: (c: { failures: number; windowSeconds: number; retryAfterS: number }) =>
      `pushring: more than ${c.failures} failed authentications from this address in ${c.windowSeconds}s; nothing was done. Retry after ${c.retryAfterS}s with a valid credential.`,
  },
  PUSHRING_OVERLOADED: {
    status: 503,
    message: (c: { limitBytes: number }) =>
      `pushring: the front door holds as many request bodies as its bound allows (server.maxInflightBodyBytes, ${c.limitBytes} bytes); nothing was stored. Retry in a second, or through another front door.`,
  },
  PUSHRING_URI_TOO_LONG: {
    status: 414,
    message: (c: { limitBytes: number }) =>
      `pushring: the request URL is longer than ${c.limitBytes} bytes (server.maxUrlBytes); nothing was done. Shorten the grouping key.`,
  },
  PUSHRING_ADMIN_SHARD_UNREADABLE: {
    status: 503,
    message: (c: { shard: string }) =>
      `pushring: no replica of shard(s) ${c.shard} could be read; nothing was deleted. Retry once a replica of each is up (GET /-/ready names them).`,
  },
  PUSHRING_ADMIN_INCOMPLETE: {
    status: 503,
    message: (c: { failures: number }) =>
      `pushring: ${c.failures} group(s) could not be deleted (the JSON answer lists them with why); the others were. Retry the call: deleting is idempotent.`,
  },
  PUSHRING_ADMIN_BAD_REQUEST: {
    status: 400,
    message: (c: { problem: string }) => `pushring: ${c.problem}; nothing was deleted.`,
  },
  PUSHRING_READS_BUSY: {
    status: 503,
    message: (c: { reads: number }) =>
      `pushring: this front door is already answering ${c.reads} reads of every group (server.maxConcurrentReads); retry in a second, or read through another front door.`,
  },
  PUSHRING_BAD_QUERY: {
    status: 400,
    message: (c: { problem: string }) => `pushring: the query of GET /-/api/groups is not valid: ${c.problem}.`,
  },
  PUSHRING_READ_INCOMPLETE: {
    status: 503,
    message: (c: { shard: string }) =>
      `pushring: no replica of shard(s) ${c.shard} answered the read, so the answer would miss their groups; nothing was sent. Retry later; operators: see GET /-/ready and the shard's Pushgateways.`,
  },
  PUSHRING_INTERNAL: {
    status: 500,
    message: () => 'pushring: internal error; the push may not have been stored. Retry it; operators: see the front door log.',
  },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERRORS;

/** What the message of `C` needs (undefined for a message that needs nothing). */
export type ErrorContext<C extends ErrorCode> = Parameters<(typeof ERRORS)[C]['message']>[0];

export function renderError<C extends ErrorCode>(code: C, context: ErrorContext<C>): { status: number; body: string } {
  const entry: CatalogueEntry = ERRORS[code];
  return { status: entry.status, body: entry.message(context as never) + '\n' };
}

/** Sends one of pushring's errors; `headers` go with it (Retry-After, say). */
export async function sendError<C extends ErrorCode>(
  reply: FastifyReply,
  code: C,
  context: ErrorContext<C>,
  headers?: Readonly<Record<string, string>>,
): Promise<void> {
  const entry: CatalogueEntry = ERRORS[code];
  const message = entry.message(context as never);
  reply.code(entry.status);
  if (entry.goError === true) {
    reply.header('x-pushring-error', code);
    if (headers !== undefined) reply.headers(headers);
    await sendGoError(reply, message);
    return;
  }
  reply.type(TEXT).header('x-pushring-error', code);
  if (headers !== undefined) reply.headers(headers);
  await reply.send(message + '\n');
}
