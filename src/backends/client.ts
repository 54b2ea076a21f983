/**
 * One Pushgateway replica: a keep-alive connection pool for writes, a separate small pool for
 * probes (so that probes never queue behind a saturated write pool) and one for long reads (so
 * that a read streaming 100,000 groups never holds a connection a push waits for), the replica's
 * health as a plain field that the write path reads and never awaits, and the state of its own
 * scrape (GET /metrics), which nothing on the write path reads at all. Every pool uses the
 * replica's client settings (TLS files, basic auth) as last read.
 */
import { Pool, type Dispatcher } from 'undici';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { createSecretStore, type SecretStore } from '../auth/secrets.js';
import { basePathOf } from '../config/load.js';
import type { ApiGroup } from '../core/exposition.js';
import { createJsonArraySplitter } from '../core/json-array.js';
import { TLS_HANDSHAKE_FAILURES, explainRefusal, explainTlsFailure, type ResolvedClient } from '../core/replicas.js';

export type ReplicaFailure =
  /**
   * Nothing was stored: the connection could not be made (refused, no route, connect time-out,
   * a failed TLS handshake), the replica refused pushring's own credentials (401/403), or its
   * password was never read, so nothing was sent.
   */
  | 'unreachable'
  /** No answer within write.timeoutMs, queueing included: it may or may not have been stored. */
  | 'timeout'
  /** Marked down by a health probe while this write waited: it may or may not have been stored. */
  | 'down'
  /** The connection broke after the request was sent: it may or may not have been stored. */
  | 'unknown';

/** Errors that prove the request never reached the replica. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * TLS errors that only a handshake raises, so the request was never sent (core/replicas.ts). Any
 * other `ERR_SSL_*` may be a record-layer error on a reused keep-alive connection after the
 * request went out.
 */
export const HANDSHAKE_TLS_ERRORS: ReadonlySet<string> = new Set(Object.keys(TLS_HANDSHAKE_FAILURES));

/** A replica's answer to a read, chunk by chunk (Backend.stream). */
export interface ReplicaStream {
  /** The next chunk, or undefined at the end; rejects on a time-out or a failure of the replica. */
  next(): Promise<Buffer | undefined>;
  /** Stops reading (the rest is dropped). */
  close(): void;
}

/** Connections of a replica's read pool by default (twice server.maxConcurrentReads' default). */
const READ_CONNECTIONS = 8;

export interface ReplicaAnswer {
  readonly status: number;
  readonly body: Buffer;
  readonly contentType: string | undefined;
}

export type ReplicaResult = ReplicaAnswer | { readonly failure: ReplicaFailure; readonly error?: Error };

export function isAnswer(result: ReplicaResult): result is ReplicaAnswer {
  return 'status' in result;
}

/** Receives the results of the writes of one push; `index` says which replica answered. */
export interface ResultSink {
  settle(index: number, result: ReplicaResult): void;
}

export interface OutgoingRequest {
  /** The canonical grouping key of the group written. */
  readonly group: string;
  readonly method: 'PUT' | 'POST' | 'DELETE';
  /** Path and query as the client sent them; the replica's base path is put in front. */
  readonly path: string;
  /** Flat `[name, value, ...]` list, hop-by-hop headers already removed. */
  readonly headers: string[];
  readonly body: Buffer | null;
  /** When the front door received the push (ms since the epoch). */
  readonly receivedAt: number;
}

export interface BackendOptions {
  readonly shard: string;
  readonly replica: string;
  readonly url: string;
  readonly connections: number;
  /** Connections for client reads (stream()); default READ_CONNECTIONS. */
  readonly readConnections?: number;
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
  readonly probeTimeoutMs: number;
  /** Consecutive successful probes a replica needs to be believed up again after being down. */
  readonly upAfterProbes: number;
  /** TLS material and credentials (core/replicas.ts); absent: a plain connection. */
  readonly client?: ResolvedClient;
  /** Which shard of the configuration this replica belongs to, for messages (`shards[i]`). */
  readonly shardIndex?: number;
  /** How often the basic-auth password is read again (auth.secretsReloadSeconds), in milliseconds. */
  readonly secretsReloadMs?: number;
}

/** A CA, certificate or key file of a replica's client settings that cannot be read. */
export class BackendClientError extends Error {
  readonly code = 'PUSHRING_BACKEND_CLIENT';
}

export type HealthListener = (backend: Backend, up: boolean, reason: string) => void;

/**
 * GET /metrics as Prometheus would get it: `ok` (200), `broken` (any other answer: a Pushgateway
 * holding inconsistent groups answers 500 while `/-/healthy` stays 200), `unknown` (not probed
 * yet, or no answer: whether the replica is up is the health probe's business).
 */
export type ScrapeState = 'unknown' | 'ok' | 'broken';

export type ScrapeListener = (backend: Backend, state: ScrapeState, reason: string) => void;

/**
 * Bytes of a 200 scrape read before the connection is dropped: a Pushgateway's own metrics fit,
 * so a small one keeps its connection; a large one costs a reconnection, not a transfer.
 */
const SCRAPE_BODY_BUDGET = 64 * 1024;
/** Bytes kept of a failed scrape's answer, for the log: the Pushgateway says there what clashes. */
const SCRAPE_ERROR_BYTES = 2 * 1024;

export class Backend {
  readonly shard: string;
  readonly replica: string;
  /** `shard/replica`: how hints, suspect marks and reports name it. */
  readonly id: string;
  readonly url: string;
  /** Read on every push; written by passive detection and by probes. */
  up = true;
  /** Written by scrape probes only; a replica whose scrape is broken still takes writes. */
  scrape: ScrapeState = 'unknown';
  /** Since when (ms since the epoch) the scrape has been broken; undefined unless it is. */
  scrapeBrokenSince: number | undefined;
  /** What the last probe that did not find the scrape ok said, for logs. */
  scrapeReason = '';
  private readonly basePath: string;
  /** Replaced (the old ones closed gracefully) when the replica's TLS files change. */
  private pool: Pool;
  private probePool: Pool;
  private readPool: Pool;
  private readonly origin: string;
  private readonly options: BackendOptions;
  /** What the TLS files looked like when last read (size, modification time, inode of each). */
  private tlsStamp: string | undefined;
  /** Why changed TLS files could not be used (the pools in force stay); undefined when they could. */
  private tlsProblem: string | undefined;
  private readonly inFlight = new Set<ReplicaWrite>();
  private readonly listeners: HealthListener[] = [];
  private readonly scrapeListeners: ScrapeListener[] = [];
  private readonly probeTimeoutMs: number;
  private readonly callTimeoutMs: number;
  private readonly timeoutMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private readonly upAfterProbes: number;
  private healthyProbes = 0;
  private readonly client: ResolvedClient | undefined;
  private readonly shardIndex: number;
  /** The password's store once it has been read the first time; undefined without basic auth. */
  private secrets: SecretStore | undefined;
  /** Settles once the password has been read the first time (at once without basic auth). */
  private readonly secretsRead: Promise<void>;
  /** Why the password cannot be read now (where, never what); undefined when it can. */
  private secretProblem: string | undefined;
  private closed = false;
  /** Whether pushring sends this replica credentials of its own (basic auth, a client certificate). */
  private readonly sendsCredentials: boolean;
  /** The `Authorization` value for the password it was built from: built again only when it changes. */
  private authFor: string | undefined;
  private authValue: string | undefined;

  constructor(options: BackendOptions) {
    this.shard = options.shard;
    this.replica = options.replica;
    this.id = `${options.shard}/${options.replica}`;
    this.url = options.url;
    const parsed = new URL(options.url);
    this.basePath = basePathOf(parsed);
    this.client = options.client;
    this.shardIndex = options.shardIndex ?? 0;
    this.origin = parsed.origin;
    this.options = options;
    this.tlsStamp = stampTlsFiles(options.client);
    [this.pool, this.probePool, this.readPool] = this.makePools(readConnectOptions(options.client));
    this.probeTimeoutMs = options.probeTimeoutMs;
    this.callTimeoutMs = options.timeoutMs;
    this.timeoutMs = options.timeoutMs;
    this.upAfterProbes = options.upAfterProbes;
    // One timer per replica, not one per write: it fails writes past their deadline, including
    // time spent queued for a connection, which undici's own time-outs do not count.
    this.sweeper = setInterval(() => this.expire(Date.now()), Math.max(10, Math.min(250, options.timeoutMs / 4)));
    this.sweeper.unref();
    const basicAuth = options.client?.basicAuth;
    this.sendsCredentials = basicAuth !== undefined || options.client?.certFile !== undefined;
    this.secretsRead =
      basicAuth === undefined
        ? Promise.resolve()
        : createSecretStore([basicAuth.password], {
            reloadMs: options.secretsReloadMs ?? 10_000,
            onError: (_where, message) => (this.secretProblem = `cannot read the password of ${basicAuth.path}: ${message}`),
          }).then((store) => {
            if (this.closed) store.close();
            else this.secrets = store;
          });
  }

  private makePools(connect: ReturnType<typeof readConnectOptions>): [Pool, Pool, Pool] {
    const o = this.options;
    const pool = new Pool(this.origin, {
      ...connect,
      connections: o.connections,
      connectTimeout: o.connectTimeoutMs,
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      keepAliveTimeout: 30_000,
    });
    // Two connections: a slow scrape probe (a large replica gathers every group before it
    // answers) must not hold up the health probe, which would mark the replica down.
    const probePool = new Pool(this.origin, {
      ...connect,
      connections: 2,
      connectTimeout: o.probeTimeoutMs,
      headersTimeout: o.probeTimeoutMs,
      bodyTimeout: o.probeTimeoutMs,
    });
    // No body time-out: while a read's client is slow, or another shard's part of a merge is
    // sent, the replica is not read; stream() bounds each wait for the replica instead.
    const readPool = new Pool(this.origin, {
      ...connect,
      connections: o.readConnections ?? READ_CONNECTIONS,
      connectTimeout: o.connectTimeoutMs,
      headersTimeout: o.timeoutMs,
      bodyTimeout: 0,
    });
    return [pool, probePool, readPool];
  }

  /**
   * Rotation without a restart: when the CA, certificate or key file changed since it was read,
   * new connections use the new files (old pools finish what they carry, then close). A file
   * that cannot be read now keeps the pools in force and the reason for the health probe.
   */
  private reloadTls(): void {
    const stamp = stampTlsFiles(this.client);
    // Closed meanwhile: new pools would outlive the Backend.
    if (stamp === this.tlsStamp || this.closed) return;
    let connect: ReturnType<typeof readConnectOptions>;
    try {
      connect = readConnectOptions(this.client);
    } catch (err) {
      this.tlsProblem = (err as Error).message;
      return;
    }
    [this.tlsStamp, this.tlsProblem] = [stamp, undefined];
    const old = [this.pool, this.probePool, this.readPool];
    [this.pool, this.probePool, this.readPool] = this.makePools(connect);
    for (const pool of old) void pool.close().catch(() => undefined);
  }

  /**
   * `Authorization: Basic …` from the password as last read; undefined without basic auth or
   * while the password cannot be read. Built again only when the password changes.
   */
  private authorization(): string | undefined {
    const basicAuth = this.client?.basicAuth;
    if (basicAuth === undefined) return undefined;
    const password = this.secrets?.get(basicAuth.password);
    if (password === undefined) return undefined;
    if (password !== this.authFor) [this.authFor, this.authValue] = [password, 'Basic ' + Buffer.from(`${basicAuth.username}:${password}`).toString('base64')];
    return this.authValue;
  }

  /**
   * The headers of a request with pushring's own credentials last. An `Authorization` among them
   * (a client's, which never belongs to a replica) is dropped even without basic auth: hints
   * stored by an older version carry the client's header, and replaying one must not forward it.
   */
  private withCredentials(headers: readonly string[]): string[] {
    const authorization = this.authorization();
    // The hot path of a replica without basic auth: no copy unless there is something to drop.
    if (authorization === undefined && !hasAuthorization(headers)) return headers as string[];
    const out: string[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (headers[i]!.toLowerCase() === 'authorization') continue;
      out.push(headers[i]!, headers[i + 1]!);
    }
    if (authorization !== undefined) out.push('authorization', authorization);
    return out;
  }

  /** Why a request got no answer, in words that say what to fix when TLS is the cause. */
  describeFailure(err: unknown): string {
    const code = errorCode(err);
    const tls = code === undefined ? undefined : explainTlsFailure(code, this.client?.paths.caFile, this.client?.paths.certFile);
    return tls ?? describeError(err);
  }

  /** Why a 401 or 403 came back: a password that cannot be read, a wrong one, or none configured. */
  describeRefusal(status: number): string {
    const unread = this.client?.basicAuth !== undefined && this.authorization() === undefined;
    return unread
      ? (this.secretProblem ?? `the password of ${this.client?.basicAuth?.path} is not read yet`)
      : explainRefusal(status, this.client?.basicAuth?.path, this.shardIndex);
  }

  /**
   * A write's 401 or 403 that is the replica refusing pushring itself, not the push: why, or
   * undefined when the answer is the replica's to give. A 401 always is (pushring never forwards
   * a client's `Authorization`, so the challenge is to pushring); a 403 is when pushring sends
   * credentials of its own, and otherwise may be a proxy's policy about the push itself.
   */
  refusalOf(status: number): string | undefined {
    if (status === 401 || (status === 403 && this.sendsCredentials)) return this.describeRefusal(status);
    return undefined;
  }

  /** Sends one write; the result reaches `sink.settle(index, …)` exactly once. */
  send(request: OutgoingRequest, sink: ResultSink, index: number): void {
    const write = new ReplicaWrite(this, sink, index, Date.now() + this.timeoutMs);
    this.inFlight.add(write);
    // Made by a reload (or just started), the password is not read yet: the write waits for the
    // first read, the sweeper bounding the wait by write.timeoutMs, rather than go out without it.
    if (this.client?.basicAuth !== undefined && this.secrets === undefined && !this.closed) {
      const go = (): void => this.dispatch(request, write);
      void this.secretsRead.then(go, go);
      return;
    }
    this.dispatch(request, write);
  }

  private dispatch(request: OutgoingRequest, write: ReplicaWrite): void {
    // Expired or released while it waited for the password.
    if (write.isSettled) return;
    if (this.client?.basicAuth !== undefined && this.authorization() === undefined) {
      // Never read (missing, unreadable): without it the replica could only refuse the write.
      const reason = this.describeRefusal(401);
      write.fail('unreachable', new Error(reason));
      this.markDown(`write not sent: ${reason}`);
      return;
    }
    this.pool.dispatch(
      { method: request.method, path: this.basePath + request.path, headers: this.withCredentials(request.headers), body: request.body },
      write,
    );
  }

  /** Probes `/-/healthy`; updates `up` and tells listeners on a change. */
  async probe(): Promise<boolean> {
    let healthy = false;
    let reason = '';
    try {
      await this.secretsRead;
      this.reloadTls();
      const res = await this.probePool.request({
        method: 'GET',
        path: this.basePath + '/-/healthy',
        headers: this.withCredentials([]),
        signal: AbortSignal.timeout(this.probeTimeoutMs),
      });
      await res.body.dump();
      healthy = res.statusCode === 200;
      reason = healthy
        ? 'health probe succeeded'
        : isRefusal(res.statusCode)
          ? this.describeRefusal(res.statusCode)
          : `health probe answered ${res.statusCode}`;
    } catch (err) {
      reason = `health probe failed: ${this.describeFailure(err)}`;
    }
    if (!healthy && this.tlsProblem !== undefined) reason += ` (and the changed TLS files are not in use: ${this.tlsProblem})`;
    // Hold-down: a replica slow on writes but quick on /-/healthy would otherwise flap, back up
    // after every probe and down again after every slow write.
    this.healthyProbes = healthy ? this.healthyProbes + 1 : 0;
    if (!healthy || this.up || this.healthyProbes >= this.upAfterProbes) this.setUp(healthy, reason);
    return healthy;
  }

  /**
   * Probes the replica's own scrape (GET /metrics), with the time-out of call(); updates `scrape`
   * and tells listeners on a change. A Pushgateway answers HEAD /metrics with 405, so this is a
   * GET whose body is read only up to a small budget.
   */
  async probeScrape(): Promise<ScrapeState> {
    let state: ScrapeState;
    let reason: string;
    try {
      await this.secretsRead;
      const res = await this.probePool.request({
        method: 'GET',
        path: this.basePath + '/metrics',
        headers: this.withCredentials([]),
        headersTimeout: this.callTimeoutMs,
        bodyTimeout: this.callTimeoutMs,
        signal: AbortSignal.timeout(this.callTimeoutMs),
      });
      if (res.statusCode === 200) {
        await res.body.dump({ limit: SCRAPE_BODY_BUDGET });
        [state, reason] = ['ok', 'GET /metrics answered 200'];
      } else if (isRefusal(res.statusCode)) {
        // Refused credentials say nothing of what the replica holds: the health probe reports them.
        await res.body.dump();
        [state, reason] = ['unknown', `GET /metrics: ${this.describeRefusal(res.statusCode)}`];
      } else {
        const text = await readPrefix(res.body as AsyncIterable<Buffer>, SCRAPE_ERROR_BYTES);
        [state, reason] = ['broken', `GET /metrics answered ${res.statusCode}: ${text.trim()}`];
      }
    } catch (err) {
      [state, reason] = ['unknown', `GET /metrics got no answer: ${this.describeFailure(err)}`];
    }
    this.setScrape(state, reason);
    return state;
  }

  onScrapeChange(listener: ScrapeListener): void {
    this.scrapeListeners.push(listener);
  }

  /**
   * One request outside the hot path (reads of /api/v1/*, repair copies and deletes), with a
   * whole-request time-out; rejects when the replica cannot be reached.
   */
  async call(
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    body?: string | Buffer | null,
    headers: readonly string[] = ['content-type', 'text/plain; version=0.0.4'],
  ): Promise<{ status: number; body: string }> {
    await this.secretsRead;
    const res = await this.pool.request({
      method,
      path: this.basePath + path,
      ...(body === undefined || body === null ? { headers: this.withCredentials([]) } : { body, headers: this.withCredentials(headers) }),
      signal: AbortSignal.timeout(this.callTimeoutMs),
    });
    return { status: res.statusCode, body: await res.body.text() };
  }

  /** The groups the replica holds (`/api/v1/metrics`); rejects when it cannot be read. */
  async groups(): Promise<ApiGroup[]> {
    const res = await this.call('GET', '/api/v1/metrics');
    if (res.status !== 200) throw new Error(`GET /api/v1/metrics answered ${res.status}`);
    return (JSON.parse(res.body) as { data: ApiGroup[] }).data;
  }

  /**
   * The same groups one at a time, as the answer arrives: a replica holding 25,000 groups is never
   * held whole, as text or parsed. Rejects when the replica cannot be read, at any point. On the
   * write pool (the reconciler, the judge, administrative calls): clients' reads, however slow,
   * never hold it up.
   */
  async *streamGroups(): AsyncGenerator<ApiGroup> {
    const stream = await this.open(this.pool, '/api/v1/metrics', this.callTimeoutMs);
    try {
      for await (const text of jsonGroups(stream)) yield JSON.parse(text) as ApiGroup;
    } finally {
      stream.close();
    }
  }

  /**
   * GET `path` for a client's read (/metrics, /api/v1/metrics), streamed on the read pool with
   * pushring's own credentials. Rejects unless the replica answers 200 within `timeoutMs`; then
   * each wait for a chunk is bounded by `timeoutMs` in turn, and the time the consumer takes
   * between chunks does not count (TCP flow control bounds what is buffered meanwhile).
   */
  stream(path: string, timeoutMs = this.callTimeoutMs): Promise<ReplicaStream> {
    return this.open(this.readPool, path, timeoutMs);
  }

  private async open(pool: Pool, path: string, timeoutMs: number): Promise<ReplicaStream> {
    await this.secretsRead;
    this.reloadTls();
    const started = new AbortController();
    const late = new Error(`GET ${path}: no answer within ${timeoutMs} ms (from the replica, or a free connection to it)`);
    let timer: NodeJS.Timeout | undefined;
    // Raced rather than left to the signal alone: undici acts on an abort only once a queued
    // request has a connection, and the wait for one must be bounded too.
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        started.abort(late);
        reject(late);
      }, timeoutMs);
    });
    const request = pool.request({ method: 'GET', path: this.basePath + path, headers: this.withCredentials([]), signal: started.signal });
    // Answered after the time-out: nobody reads it.
    void request.then(
      (res) => started.signal.aborted && res.body.on('error', () => undefined).destroy(),
      () => undefined,
    );
    const res = await Promise.race([request, expired]).finally(() => clearTimeout(timer));
    const body = res.body;
    // Dropped early (an error, or the consumer stopped), undici emits the abort as an 'error'
    // event, which would crash the process with no listener.
    body.on('error', () => undefined);
    if (res.statusCode !== 200) {
      body.destroy();
      throw new Error(isRefusal(res.statusCode) ? `GET ${path}: ${this.describeRefusal(res.statusCode)}` : `GET ${path} answered ${res.statusCode}`);
    }
    const chunks = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    return {
      async next() {
        let wait: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_resolve, reject) => {
          wait = setTimeout(() => reject(new Error(`GET ${path}: no data within ${timeoutMs} ms`)), timeoutMs);
        });
        try {
          const step = await Promise.race([chunks.next(), timeout]);
          return step.done === true ? undefined : step.value;
        } catch (err) {
          body.destroy();
          throw err;
        } finally {
          clearTimeout(wait);
        }
      },
      close() {
        if (!body.readableEnded) body.destroy();
      },
    };
  }

  onHealthChange(listener: HealthListener): void {
    this.listeners.push(listener);
  }

  /** Passive detection: a write that could not reach the replica marks it down at once. */
  markDown(reason: string): void {
    this.healthyProbes = 0;
    this.setUp(false, reason);
  }

  async close(): Promise<void> {
    this.closed = true;
    // Pools a TLS reload replaced are closing already; these are the ones in force.
    this.secrets?.close();
    clearInterval(this.sweeper);
    this.release('down');
    await Promise.all([this.pool.destroy(), this.probePool.destroy(), this.readPool.destroy()]);
  }

  /** @internal called by ReplicaWrite when it settles */
  finished(write: ReplicaWrite): void {
    this.inFlight.delete(write);
  }

  private setUp(up: boolean, reason: string): void {
    if (this.up === up) return;
    this.up = up;
    // Writes still waiting for a replica that is now known down stop waiting: the push is
    // answered from the other replicas instead of after this one's time-out.
    if (!up) this.release('down');
    for (const listener of this.listeners) listener(this, up, reason);
  }

  private setScrape(state: ScrapeState, reason: string): void {
    this.scrapeReason = state === 'ok' ? '' : reason;
    if (this.scrape === state) return;
    this.scrape = state;
    this.scrapeBrokenSince = state === 'broken' ? Date.now() : undefined;
    for (const listener of this.scrapeListeners) listener(this, state, reason);
  }

  private release(failure: ReplicaFailure): void {
    for (const write of [...this.inFlight]) write.fail(failure, undefined);
  }

  private expire(now: number): void {
    let expired = false;
    for (const write of this.inFlight) {
      if (write.deadline > now) continue;
      expired = true;
      write.fail('timeout', undefined);
    }
    if (expired) this.markDown(`a write got no answer within ${this.timeoutMs} ms`);
  }
}

/** The undici handler of one write: collects the answer without streams or promises. */
class ReplicaWrite implements Dispatcher.DispatchHandler {
  private status = 0;
  private contentType: string | undefined;
  private chunks: Buffer[] = [];
  private settled = false;
  private controller: Dispatcher.DispatchController | undefined;

  get isSettled(): boolean {
    return this.settled;
  }

  constructor(
    private readonly backend: Backend,
    private readonly sink: ResultSink,
    private readonly index: number,
    readonly deadline: number,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Released (down, past its deadline) before it was even sent: do not send it late.
    if (this.settled) controller.abort(new Error('write released'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.status = statusCode;
    const contentType = headers['content-type'];
    this.contentType = typeof contentType === 'string' ? contentType : contentType?.[0];
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // A Pushgateway's answers are a line or two; keep at most 64 KiB of anything larger.
    if (!this.settled && this.chunks.length < 16) this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.settled) return;
    const refusal = this.backend.refusalOf(this.status);
    if (refusal !== undefined) {
      // The Pushgateway's auth layer answers before the push is looked at: nothing was stored,
      // and the other replicas decide what the client hears (never this bare 401).
      this.settle({ failure: 'unreachable', error: new Error(refusal) });
      this.backend.markDown(`write refused: ${refusal}`);
      return;
    }
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.settle({ status: this.status, body, contentType: this.contentType });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.settled) return;
    const failure = classifyError(error);
    this.settle({ failure, error });
    // A reset on a reused keep-alive connection says little; the next probe decides.
    if (failure !== 'unknown') this.backend.markDown(`write failed: ${this.backend.describeFailure(error)}`);
  }

  /** Settles without an answer and abandons the request: nobody waits for it any more. */
  fail(failure: ReplicaFailure, error: Error | undefined): void {
    if (this.settled) return;
    this.settle(error === undefined ? { failure } : { failure, error });
    this.controller?.abort(new Error(`write released: ${failure}`));
  }

  private settle(result: ReplicaResult): void {
    this.settled = true;
    this.chunks = [];
    this.backend.finished(this);
    this.sink.settle(this.index, result);
  }
}

/** The groups of a replica's `/api/v1/metrics` answer as it streams, each as its JSON text. */
export async function* jsonGroups(stream: ReplicaStream): AsyncGenerator<string> {
  const splitter = createJsonArraySplitter('data');
  for (let chunk = await stream.next(); chunk !== undefined; chunk = await stream.next()) yield* splitter.push(chunk);
  splitter.end();
}

/** The first `limit` bytes of a body as text; the rest is not read (the connection is dropped). */
async function readPrefix(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    bytes += chunk.length;
    if (bytes >= limit) break;
  }
  // Leaving the loop early destroys the stream; a complete body leaves the connection reusable.
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/** What a write's error says about whether the replica may have stored it. */
export function classifyError(error: Error): ReplicaFailure {
  const code = errorCode(error);
  // A failed TLS handshake happens before the request is sent.
  if (code !== undefined && (NOT_SENT.has(code) || HANDSHAKE_TLS_ERRORS.has(code))) return 'unreachable';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  return 'unknown';
}

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

function hasAuthorization(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') return true;
  }
  return false;
}

function isRefusal(status: number): boolean {
  return status === 401 || status === 403;
}

/** undici's `connect` options from a replica's TLS files, read now; throws a BackendClientError naming the file that cannot be read. */
/** Sizes and modification times of a replica's TLS files: a change says they were rewritten. */
function stampTlsFiles(client: ResolvedClient | undefined): string | undefined {
  const files = [client?.caFile, client?.certFile, client?.keyFile].filter((f) => f !== undefined);
  if (files.length === 0) return undefined;
  return files
    .map((file) => {
      try {
        const st = statSync(file);
        return `${st.size}:${st.mtimeMs}:${st.ino}`;
      } catch {
        return 'unreadable';
      }
    })
    .join(',');
}

export function readConnectOptions(client: ResolvedClient | undefined): { connect?: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string } } {
  if (client === undefined) return {};
  const read = (field: 'caFile' | 'certFile' | 'keyFile'): Buffer | undefined => {
    const file = client[field];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new BackendClientError(`cannot read ${client.paths[field] ?? field} (${file}): ${code}; give a readable PEM file`);
    }
  };
  const connect: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string } = {};
  const [ca, cert, key] = [read('caFile'), read('certFile'), read('keyFile')];
  if (ca !== undefined) connect.ca = ca;
  if (cert !== undefined) connect.cert = cert;
  if (key !== undefined) connect.key = key;
  if (client.serverName !== undefined) connect.servername = client.serverName;
  if (ca !== undefined || cert !== undefined) {
    // Parsed now, so that a file that is not PEM, or a key that is not the certificate's, is
    // found at start (or in check-config) rather than at the first connection.
    try {
      // createSecureContext passes over a CA file without a certificate in it; X509Certificate does not.
      if (ca !== undefined) new X509Certificate(ca);
      createSecureContext({ ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) });
    } catch (err) {
      const where = (['caFile', 'certFile', 'keyFile'] as const).flatMap((f) => (client[f] === undefined ? [] : [`${client.paths[f] ?? f} (${client[f]})`]));
      throw new BackendClientError(`cannot use ${where.join(', ')}: ${(err as Error).message}; give PEM files, a certificate with its own key`);
    }
  }
  return Object.keys(connect).length === 0 ? {} : { connect };
}

export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: string }).code;
    const cause = (err as { cause?: unknown }).cause;
    const causeText = cause instanceof Error ? ` (${cause.message})` : '';
    return `${code !== undefined ? code + ': ' : ''}${err.message}${causeText}`;
  }
  return String(err);
}
