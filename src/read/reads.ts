/**
 * Reads through the front door, answered as one Pushgateway holding every group would answer
 * them: GET /metrics (text), GET /api/v1/metrics (JSON), GET /api/v1/status. Each group comes
 * from one live replica of the shard whose copy is authoritative (core/read-merge.ts
 * authoritativeShard); copies elsewhere (a ring change's old or new side, strays being deleted)
 * are left out.
 *
 * Streamed: every shard's replica is opened before the answer starts (a shard none of whose
 * replicas answers is a 503 naming it), then read only as fast as the client takes the answer.
 * Never a partial answer passed off as complete: a replica failing once its part has begun aborts
 * the response (no terminating chunk), and the log names the shard.
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import { jsonGroups, type Backend, type ReplicaStream } from '../backends/client.js';
import type { Cluster, Shard } from '../backends/cluster.js';
import type { ApiGroup } from '../core/exposition.js';
import { makeGroupingKey } from '../core/grouping-key.js';
import { classifyLine, createLineSplitter, groupIdentities, isPushedSeries, lineIdentity, nextFamily, readOrder } from '../core/read-merge.js';
import type { ChangePhase } from '../core/ring-change.js';
import type { BodyBudget } from '../http/body-budget.js';
import { ERRORS } from '../http/errors.js';
import type { ReadGate } from './gate.js';

/** Series of copies not to show that text merges may hold at once, over every read (their identities only). */
export const MAX_LEFT_OUT_SERIES = 500_000;
/** Bytes gathered before a write to the client. */
const WRITE_BATCH = 64 * 1024;
/** How long a client may take no data before its answer is cut off (under 2 KiB/s for a batch). */
export const READ_STALL_MS = 30_000;

/** What this front door's last reconciler pass found of a ring change, for /api/v1/status. */
export interface ChangeProgress {
  /** When the pass ended (ms since the epoch). */
  readonly at: number;
  readonly phase: ChangePhase;
  readonly misplaced: number;
  readonly unsettled: number;
}

export interface ReadDeps {
  readonly cluster: Cluster;
  readonly log: FastifyBaseLogger;
  /** When this front door started (ms since the epoch), for /api/v1/status. */
  readonly startedAt: number;
  /** Replicas that may lack writes (the reconciler's marks): read only when no trusted one answers. */
  readonly suspects?: { since(replica: string): number | undefined };
  /** The left-out series of every text merge under way (MAX_LEFT_OUT_SERIES), shared by all reads. */
  readonly leftOut: BodyBudget;
  /** The last reconciler pass of this front door, when it runs one. */
  readonly progress?: () => ChangeProgress | undefined;
}

/** How long one answer may hold its place, however slowly its client reads: then it is cut off. */
export const READ_DEADLINE_MS = 10 * 60_000;

/**
 * Answers a read within the gate (gate.ts): 503 PUSHRING_READS_BUSY (with Retry-After) when no
 * place comes free in time, so that no read waits for a replica connection another read holds.
 * An answer still going after READ_DEADLINE_MS is cut off: a client taking a batch just inside
 * the stall time-out would otherwise hold its place for hours.
 */
export async function gated(gate: ReadGate, reply: FastifyReply, json: boolean, serve: () => Promise<void>): Promise<void> {
  if (!(await gate.enter())) {
    reply.header('retry-after', '1');
    return sendReadError(reply, 'PUSHRING_READS_BUSY', ERRORS.PUSHRING_READS_BUSY.message({ reads: gate.max }), json);
  }
  const deadline = setTimeout(() => reply.raw.destroy(), READ_DEADLINE_MS);
  try {
    await serve();
  } finally {
    clearTimeout(deadline);
    gate.leave();
  }
}

/** A failure of a shard as a whole (not of one replica): another replica is not tried. */
class ShardReadError extends Error {
  readonly code = 'PUSHRING_SHARD_READ';
  constructor(
    readonly shard: string,
    message: string,
  ) {
    super(message);
  }
}

const isShardFailure = (err: unknown): boolean => (err as { code?: unknown }).code === 'PUSHRING_SHARD_READ';

/** The client went away or stopped taking the answer: no replica is to blame, and none is tried. */
const clientGone = (message: string): Error => Object.assign(new Error(message), { code: 'PUSHRING_CLIENT_GONE' });
const isClientGone = (err: unknown): boolean => (err as { code?: unknown }).code === 'PUSHRING_CLIENT_GONE';

/**
 * What one answer reads, taken once as it opens its replicas (each of which answers as of that
 * moment): the shards whose groups may be shown (the owners, and in the dual phase every shard of
 * either ring), and which shard's copy of a group is shown. A ring change applied meanwhile does
 * not change them half-way through.
 */
export interface ReadView {
  readonly shards: readonly Shard[];
  /** A ring change is under way as far as this front door knows (it writes dual, is fenced by another ring, or its reconciler carries one out). */
  readonly changing: boolean;
  /** Whether `shard` holds the copy of the group (its grouping labels) that is shown. */
  shows(shard: string, labels: Readonly<Record<string, string>>): boolean;
}

export function viewOf(cluster: Cluster, progress?: ChangeProgress): ReadView {
  const owners = new Set(cluster.ring.shards);
  const dual = cluster.phase === 'dual';
  const authority = cluster.readAuthority();
  return {
    shards: [...cluster.shards.values()].filter((s) => dual || owners.has(s.name)),
    // Its own reconciler, when it holds the lease, sees a change still held for another front door.
    changing: dual || cluster.fence !== undefined || (progress !== undefined && progress.phase !== 'none'),
    shows: (shard, labels) => authority(makeGroupingKey(new Map(Object.entries(labels))).canonical) === shard,
  };
}

/** The order replicas are tried in (core/read-merge.ts readOrder): live and trusted first; one believed down may still answer. */
const isSuspect = (deps: ReadDeps, backend: Backend): boolean => deps.suspects?.since(backend.id) !== undefined;

function preference(shard: Shard, deps: ReadDeps): Backend[] {
  return readOrder(shard.backends.map((b) => ({ up: b.up, suspect: isSuspect(deps, b) }))).map((i) => shard.backends[i]!);
}

/**
 * Writes with back-pressure; rejects when the client went away, or took no data for `stallMs`
 * (a reader that stops reading must not hold a replica's read connection, or the shutdown, for
 * ever).
 */
function createWriter(res: ServerResponse, stallMs: number): { write(text: string): Promise<void>; flush(): Promise<void> } {
  let batch = '';
  const flush = async (): Promise<void> => {
    if (batch === '') return;
    const out = batch;
    batch = '';
    if (res.destroyed) throw clientGone('the client closed the connection (or its answer passed its deadline)');
    if (res.write(out)) return;
    // One wait at a time, its listeners removed once it settles: none pile up over a long answer.
    const settled = new AbortController();
    const stalled = setTimeout(() => settled.abort(clientGone(`the client took no data for ${stallMs} ms`)), stallMs);
    try {
      await Promise.race([
        once(res, 'drain', { signal: settled.signal }),
        once(res, 'close', { signal: settled.signal }).then(() =>
          Promise.reject(clientGone('the client closed the connection (or its answer passed its deadline)')),
        ),
      ]);
    } catch (err) {
      throw settled.signal.aborted && settled.signal.reason instanceof Error ? settled.signal.reason : err;
    } finally {
      clearTimeout(stalled);
      settled.abort();
    }
  };
  return {
    async write(text) {
      batch += text;
      if (batch.length >= WRITE_BATCH) await flush();
    },
    flush,
  };
}

/** A read's 503: the Pushgateway API's error envelope for /api/v1/*, a line of text for /metrics. */
async function sendReadError(
  reply: FastifyReply,
  code: 'PUSHRING_READ_INCOMPLETE' | 'PUSHRING_READS_BUSY',
  message: string,
  json: boolean,
  extra: Record<string, unknown> = {},
): Promise<void> {
  reply.code(ERRORS[code].status).header('x-pushring-error', code);
  if (json) await reply.type('application/json').send({ status: 'error', errorType: 'unavailable', error: message, ...extra });
  else await reply.type('text/plain; charset=utf-8').send(message + '\n');
}

function sendUnavailable(reply: FastifyReply, shards: readonly string[], json: boolean): Promise<void> {
  return sendReadError(reply, 'PUSHRING_READ_INCOMPLETE', ERRORS.PUSHRING_READ_INCOMPLETE.message({ shard: shards.join(', ') }), json, { shards });
}

/** A 503 naming the shards that could not be opened; the log says why (messages name where a secret is, never what). */
async function refuse(log: FastifyBaseLogger, reply: FastifyReply, err: unknown, what: string, json: boolean): Promise<void> {
  const shards = (err as { shards?: string[] }).shards ?? [];
  log.warn({ shards, err: (err as Error).message }, `${what} answered 503: no replica of these shards answered`);
  await sendUnavailable(reply, shards, json);
}

/**
 * `open` on the shard's replicas in read order until one succeeds; rejects naming the shard when
 * none does. Each replica is tried once per answer (`tried`: those already tried), so a shard
 * failing on every one cuts the answer off. A ShardReadError from `open` is about the shard, not
 * the replica: it is not tried on the next one.
 */
export async function firstAnswering<T>(
  deps: ReadDeps,
  shard: Shard,
  open: (backend: Backend) => Promise<T>,
  tried: ReadonlySet<Backend> = new Set(),
): Promise<T> {
  const reasons: string[] = [];
  for (const backend of preference(shard, deps)) {
    if (tried.has(backend)) continue;
    try {
      return await open(backend);
    } catch (err) {
      if (isShardFailure(err)) throw err;
      reasons.push(`${backend.id}: ${(err as Error).message}`);
    }
  }
  const none = shard.backends.length === 0 ? 'it has no replica' : 'no replica of it is left to try (each failed, or is suspect once the answer had begun)';
  throw new ShardReadError(shard.name, reasons.length === 0 ? none : reasons.join('; '));
}

/** Opens `path` on the first of the shard's replicas that answers. */
export function openShard(deps: ReadDeps, shard: Shard, path: string, tried?: ReadonlySet<Backend>): Promise<{ backend: Backend; stream: ReplicaStream }> {
  return firstAnswering(deps, shard, async (backend) => ({ backend, stream: await backend.stream(path) }), tried);
}

/** Opens every shard at once; the shards none of whose replicas answered are named in the rejection. */
export async function openAll<T>(shards: readonly Shard[], open: (shard: Shard) => Promise<T>): Promise<T[]> {
  const settled = await Promise.allSettled(shards.map(open));
  const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [{ shard: shards[i]!.name, reason: String((s.reason as Error).message) }] : []));
  if (failed.length > 0) {
    for (const s of settled) if (s.status === 'fulfilled') closeOpened(s.value);
    throw Object.assign(new Error(failed.map((f) => `${f.shard}: ${f.reason}`).join('; ')), { shards: failed.map((f) => f.shard) });
  }
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

function closeOpened(value: unknown): void {
  (value as { stream?: ReplicaStream }).stream?.close();
}

/**
 * `X-Pushring-Suspect-Replicas: s0/1, …` when a shard had to be read from a replica marked
 * suspect (no trusted twin answered): it may lack a write it missed. The answer is all there is,
 * so it is given; the header says which part may be behind.
 */
function suspectHeader(suspect: ReadonlySet<Backend>): Record<string, string> {
  return suspect.size === 0 ? {} : { 'x-pushring-suspect-replicas': [...suspect].map((b) => b.id).join(', ') };
}

/** Cuts the answer off: no terminating chunk, so that curl exits non-zero and a JSON reader fails. */
function abort(res: ServerResponse, log: FastifyBaseLogger, what: string, shard: string, err: unknown): void {
  log.warn(
    { shard, err: (err as Error).message },
    `${what} aborted: shard "${shard}" failed after the answer began; the client got an incomplete answer, cut off`,
  );
  res.destroy();
}

// ---------------------------------------------------------------- GET /api/v1/metrics

export async function serveApiMetrics(deps: ReadDeps, reply: FastifyReply): Promise<void> {
  const { log } = deps;
  const view = viewOf(deps.cluster, deps.progress?.());
  const { shards } = view;
  const none = shards.filter((s) => s.backends.length === 0).map((s) => s.name);
  if (none.length > 0) return sendUnavailable(reply, none, true);
  let opened: { backend: Backend; stream: ReplicaStream }[];
  try {
    opened = await openAll(shards, (shard) => openShard(deps, shard, '/api/v1/metrics'));
  } catch (err) {
    return refuse(log, reply, err, 'GET /api/v1/metrics', true);
  }
  reply.hijack();
  const res = reply.raw;
  const announced = new Set(opened.map((o) => o.backend).filter((b) => isSuspect(deps, b)));
  res.writeHead(200, { 'content-type': 'application/json', ...suspectHeader(announced) });
  const out = createWriter(res, READ_STALL_MS);
  let first = true;
  let current = '';
  try {
    await out.write('{"status":"success","data":[');
    for (const [i, shard] of shards.entries()) {
      current = shard.name;
      let { backend, stream } = opened[i]!;
      const tried = new Set([backend]);
      for (;;) {
        let sent = 0;
        try {
          for await (const text of jsonGroups(stream)) {
            const group = JSON.parse(text) as ApiGroup;
            if (!view.shows(shard.name, group.labels)) continue;
            // Counted before it is written: once handed to the writer it may reach the client.
            sent++;
            await out.write(first ? text : ',' + text);
            first = false;
          }
          break;
        } catch (err) {
          stream.close();
          // Nothing of this shard sent yet: its other replica can still give the whole of it.
          if (sent > 0 || res.destroyed || isClientGone(err)) throw err;
          log.warn(
            { shard: shard.name, replica: backend.replica, err: (err as Error).message },
            'read of a replica failed before any of it was sent; reading its twin',
          );
          // Not a suspect one: the headers, sent, could no longer say that this part may be behind.
          const skip = new Set([...tried, ...shard.backends.filter((b) => isSuspect(deps, b) && !announced.has(b))]);
          ({ backend, stream } = await openShard(deps, shard, '/api/v1/metrics', skip));
          tried.add(backend);
        }
      }
    }
    await out.write(']}');
    await out.flush();
    res.end();
  } catch (err) {
    for (const o of opened) o.stream.close();
    abort(res, log, 'GET /api/v1/metrics', current, err);
  }
}

// ---------------------------------------------------------------- GET /metrics

interface TextSource {
  readonly shard: string;
  readonly backend: Backend;
  readonly stream: ReplicaStream;
  /** Identities of the series on this replica whose copy is shown from another shard. */
  readonly leftOut: ReadonlySet<string>;
  readonly splitter: ReturnType<typeof createLineSplitter>;
  lines: string[];
  at: number;
  ended: boolean;
  /** The family the source is at (its header read), undefined once it has ended. */
  family: string | undefined;
  type: string;
  header: string[];
  /** The first line of the next family, read ahead. */
  ahead: string | undefined;
}

async function nextLine(s: TextSource): Promise<string | undefined> {
  if (s.ahead !== undefined) {
    const line = s.ahead;
    s.ahead = undefined;
    return line;
  }
  while (s.at >= s.lines.length) {
    if (s.ended) return undefined;
    const chunk = await s.stream.next();
    [s.lines, s.at] = chunk === undefined ? [s.splitter.end(), 0] : [s.splitter.push(chunk), 0];
    if (chunk === undefined) s.ended = true;
  }
  return s.lines[s.at++];
}

/** Reads the header of the next family (HELP and TYPE); leaves `family` undefined at the end. */
async function readHeader(s: TextSource): Promise<void> {
  s.family = undefined;
  s.header = [];
  s.type = 'untyped';
  for (let line = await nextLine(s); line !== undefined; line = await nextLine(s)) {
    const c = classifyLine(line);
    if (c.kind === 'other') continue;
    if (c.kind === 'series' || (s.family !== undefined && c.family !== s.family)) {
      s.ahead = line;
      return;
    }
    s.family = c.family;
    s.header.push(line);
    if (c.kind === 'type') s.type = c.type ?? 'untyped';
  }
}

/** The next series line of the family the source is at, or undefined when the family ends (the next header is then read). */
async function nextSeries(s: TextSource): Promise<string | undefined> {
  for (let line = await nextLine(s); line !== undefined; line = await nextLine(s)) {
    const c = classifyLine(line);
    if (c.kind === 'series') return line;
    if (c.kind === 'other') continue;
    s.ahead = line;
    await readHeader(s);
    return undefined;
  }
  s.family = undefined;
  return undefined;
}

/**
 * Adds to `leftOut` every series of a replica's groups not shown from here (a JSON pass over the
 * replica), held against the budget every text merge shares: `holder` gives it back once answered.
 */
async function readLeftOut(deps: ReadDeps, view: ReadView, holder: object, shard: string, stream: ReplicaStream, leftOut: Set<string>): Promise<void> {
  try {
    for await (const text of jsonGroups(stream)) {
      const group = JSON.parse(text) as ApiGroup;
      if (view.shows(shard, group.labels)) continue;
      for (const id of groupIdentities(group)) {
        if (leftOut.has(id)) continue;
        if (!deps.leftOut.take(holder, 1))
          throw new ShardReadError(
            shard,
            `the text reads under way hold ${deps.leftOut.maxBytes} series whose copy is shown from another shard (a ring change under way); read /api/v1/metrics, or retry once the change has settled`,
          );
        leftOut.add(id);
      }
    }
  } finally {
    stream.close();
  }
}

/**
 * Opens a replica's text with the series to leave out of it. A replica answers each request as of
 * when it gets it, and copies come and go while a ring change is under way: the reconciler and
 * dual writes add copies until the change settles (deleting one only when its group is gone from
 * the shard it is copied from), and strays are then only deleted. So while copies are about (a
 * change this front door knows of, or copies found by the first pass), the groups are read both
 * before the text (a copy deleted meanwhile was there) and after it (a copy added meanwhile is
 * there), and a copy in the text is in one of the two. What can still show twice: a copy added
 * and deleted within one read, or pushed twice with other series; and, on a front door that has
 * not yet learnt of a change begun elsewhere (within its follow interval), a copy added then.
 */
function openText(deps: ReadDeps, view: ReadView, holder: object, shard: Shard): Promise<TextSource> {
  return firstAnswering(deps, shard, async (backend) => {
    const leftOut = new Set<string>();
    await readLeftOut(deps, view, holder, shard.name, await backend.stream('/api/v1/metrics'), leftOut);
    // Its answer is gathered before its first byte (the Pushgateway's handler gathers, then writes).
    const stream = await backend.stream('/metrics');
    const source: TextSource = {
      shard: shard.name,
      backend,
      stream,
      leftOut,
      splitter: createLineSplitter(),
      lines: [],
      at: 0,
      ended: false,
      family: undefined,
      type: 'untyped',
      header: [],
      ahead: undefined,
    };
    try {
      if (view.changing || leftOut.size > 0) await readLeftOut(deps, view, holder, shard.name, await backend.stream('/api/v1/metrics'), leftOut);
      await readHeader(source);
    } catch (err) {
      stream.close();
      throw err;
    }
    return source;
  });
}

export async function serveTextMetrics(deps: ReadDeps, reply: FastifyReply): Promise<void> {
  const { log } = deps;
  const view = viewOf(deps.cluster, deps.progress?.());
  let sources: TextSource[];
  try {
    sources = await openAll(view.shards, (shard) => openText(deps, view, reply, shard));
  } catch (err) {
    deps.leftOut.release(reply);
    return refuse(log, reply, err, 'GET /metrics', false);
  }
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    ...suspectHeader(new Set(sources.map((s) => s.backend).filter((b) => isSuspect(deps, b)))),
  });
  const out = createWriter(res, READ_STALL_MS);
  let current = '';
  try {
    for (let family = nextFamily(sources.map((s) => s.family)); family !== undefined; family = nextFamily(sources.map((s) => s.family))) {
      // The header of the first shard with a series shown: one whose series are all left out (a
      // copy shown from elsewhere) may carry another HELP.
      let headerSent = false;
      for (const source of sources) {
        if (source.family !== family) continue;
        current = source.shard;
        const { type, header } = source;
        for (let line = await nextSeries(source); line !== undefined; line = await nextSeries(source)) {
          // The replica's own series (no job label), and copies shown from another shard, are left out.
          if (!isPushedSeries(line)) continue;
          if (source.leftOut.size > 0 && source.leftOut.has(lineIdentity(family, type, line) ?? '')) continue;
          if (!headerSent) {
            await out.write(header.join('\n') + '\n');
            headerSent = true;
          }
          await out.write(line + '\n');
        }
      }
    }
    await out.flush();
    res.end();
  } catch (err) {
    for (const s of sources) s.stream.close();
    abort(res, log, 'GET /metrics', current, err);
  } finally {
    deps.leftOut.release(reply);
  }
}

// ---------------------------------------------------------------- GET /api/v1/status

/** What this front door knows of the ring: the ring in force, a change under way, every shard and replica. */
export function ringStatusOf(deps: ReadDeps): unknown {
  const { cluster } = deps;
  const owners = new Set(cluster.ring.shards);
  const dualSince = cluster.dualSince;
  const progress = deps.progress?.();
  const underWay = dualSince !== undefined || (progress !== undefined && progress.phase !== 'none');
  return {
    ringVersion: cluster.version,
    phase: cluster.phase,
    ringChange: !underWay
      ? null
      : {
          // How this front door writes: both owners of a moving group (dual), or its new owner alone.
          phase: cluster.phase,
          since: dualSince === undefined ? null : new Date(dualSince).toISOString(),
          // Where the change is (copy, hold, delete: docs/resizing.md), as this front door's last
          // reconciler pass found it; null on a front door that does not hold the reconcile lease.
          stage: progress?.phase ?? null,
          stageSeenAt: progress === undefined ? null : new Date(progress.at).toISOString(),
          misplaced: progress?.misplaced ?? null,
          unsettled: progress?.unsettled ?? null,
        },
    shards: [...cluster.shards.values()].map((s) => ({
      name: s.name,
      owning: owners.has(s.name),
      available: s.backends.some((b) => b.up),
      replicas: s.backends.map((b) => ({
        replica: b.replica,
        url: b.url,
        up: b.up,
        scrape: b.scrape,
        suspect: deps.suspects?.since(b.id) !== undefined,
      })),
    })),
  };
}

/** The Pushgateway's envelope (`status`, `data.start_time`…), with pushring's own facts (ringStatusOf) under `data.pushring`. */
export function statusOf(deps: ReadDeps): unknown {
  return {
    status: 'success',
    data: {
      build_information: { program: 'pushring' },
      flags: {},
      start_time: new Date(deps.startedAt).toISOString(),
      pushring: ringStatusOf(deps),
    },
  };
}
