/**
 * The writes this front door recently did not store, for people (the page at `/`, GET
 * /-/api/refusals): every answer of 400 or more to a push, a delete of a group or an
 * administrative call, whoever gave it (pushring's checks, auth, the judge, a replica's own
 * answer passed on). Kept in memory, per front door, the newest RECENT_REFUSALS; counters for
 * alerting are the self-metrics, not this.
 *
 * Recorded in one onSend hook, so that no refusal path has to remember to: the answer's status,
 * its `X-Pushring-Error` code and the first line of its body. Nothing a client sent as a
 * credential is kept: a body pushring wrote names credentials by their configured name only,
 * and the headers are not read.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { groupingPathOf } from './request-path.js';
import { credentialOf } from './auth.js';
import { isAdminPath } from '../core/auth.js';

/** How many refusals a front door keeps. */
export const RECENT_REFUSALS = 100;
/** Characters kept of a refusal's message. */
const MESSAGE_CHARS = 300;
/** Characters kept of a job name or a path. */
const NAME_CHARS = 200;

export interface RecentRefusal {
  /** When it was answered (ISO 8601). */
  readonly at: string;
  readonly method: string;
  /** The job of a push or delete path; undefined for an administrative call or a path that did not parse. */
  readonly job: string | undefined;
  /** The path asked for (query left out), cut to NAME_CHARS. */
  readonly path: string;
  readonly status: number;
  /** pushring's error code (`PUSHRING_…`), or undefined for an answer in the Pushgateway's own words. */
  readonly code: string | undefined;
  /** The credential it came with (its configured name), `anonymous`, or undefined when none was accepted. */
  readonly credential: string | undefined;
  readonly message: string;
}

export interface RefusalLog {
  record(refusal: RecentRefusal): void;
  /** Newest first. */
  recent(): RecentRefusal[];
}

export function createRefusalLog(capacity = RECENT_REFUSALS): RefusalLog {
  const ring: RecentRefusal[] = [];
  let next = 0;
  return {
    record(refusal) {
      if (ring.length < capacity) ring.push(refusal);
      else ring[next] = refusal;
      next = (next + 1) % capacity;
    },
    recent() {
      const oldestFirst = ring.length < capacity ? ring : [...ring.slice(next), ...ring.slice(0, next)];
      return [...oldestFirst].reverse();
    },
  };
}

const WRITE_METHODS = new Set(['PUT', 'POST', 'DELETE']);

function firstLine(payload: unknown): string {
  const text = typeof payload === 'string' ? payload : payload instanceof Buffer ? payload.subarray(0, MESSAGE_CHARS * 4).toString('utf8') : '';
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > MESSAGE_CHARS ? line.slice(0, MESSAGE_CHARS) + '…' : line;
}

/** What a request was refused: undefined unless it is a write (push, delete, administrative call) answered 400 or more. */
export function refusalOf(request: FastifyRequest, status: number, code: string | undefined, payload: unknown, now: number): RecentRefusal | undefined {
  if (status < 400 || !WRITE_METHODS.has(request.method)) return undefined;
  const query = request.url.indexOf('?');
  const path = query === -1 ? request.url : request.url.slice(0, query);
  const parsed = groupingPathOf(request);
  if (!parsed.ok && !isAdminPath(path)) return undefined;
  return {
    at: new Date(now).toISOString(),
    method: request.method,
    job: parsed.ok ? parsed.key.job.slice(0, NAME_CHARS) : undefined,
    path: path.slice(0, NAME_CHARS),
    status,
    code,
    credential: credentialOf(request),
    message: firstLine(payload),
  };
}

/** Records every refused write the app answers. */
export function registerRefusalLog(app: FastifyInstance, log: RefusalLog): void {
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode >= 400) {
      const code = reply.getHeader('x-pushring-error');
      const refusal = refusalOf(request, reply.statusCode, typeof code === 'string' ? code : undefined, payload, Date.now());
      if (refusal !== undefined) log.record(refusal);
    }
    done(null, payload);
  });
}
