/**
 * Assembles the front door: the push routes, health and readiness, self-metrics and the error
 * handler. It owns no process concerns (see server.ts); tests build it through this function.
 */
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Cluster } from '../backends/cluster.js';
import type { Config } from '../config/schema.js';
import { parseGroupingPath, type GroupLabels } from '../core/grouping-key.js';
import { buildTargets, formatTargets } from '../discovery/targets.js';
import { writeToShard } from '../write/fan-out.js';
import { forwardedHeaders } from '../write/headers.js';
import { requiredAcks, type Outcome } from '../write/outcome.js';
import { createLimiter } from '../limits/limiter.js';
import type { HintStore } from '../reconcile/hints.js';
import type { SuspectStore } from '../reconcile/suspects.js';
import type { Decision, WindowStore } from '../limits/store.js';
import { renderError, type ErrorCode, type ErrorContext } from './errors.js';
import { TEXT, isPushMethod, refuse, sendFrameworkError, sendGoError } from './go-compat.js';
import { combineObservers, createFailureLog, createMissedWriteLog, createThrottle } from './logging.js';
import { createSelfMetrics, type SelfMetrics } from './self-metrics.js';

export interface AppOptions {
  readonly config: Readonly<Config>;
  readonly cluster: Cluster;
  /** A pino logger, or `false` for none (tests). */
  readonly logger?: FastifyBaseLogger | false;
  /** Rate-limit counters shared by every front door (Redis); absent: in this process. */
  readonly sharedLimitStore?: WindowStore;
  /** Told of every replica that misses a write, for the reconciler. */
  readonly suspects?: SuspectStore;
  /** Keeps the writes a replica missed, for replay. */
  readonly hints?: HintStore;
  /** The self-metrics, when the caller also feeds them (the reconciler does). */
  readonly metrics?: SelfMetrics;
  /** The http_sd document in force (it follows ring changes); default: from `config`. */
  readonly targets?: () => string;
}

export function buildApp(options: AppOptions): FastifyInstance {
  const { config, cluster } = options;
  const app = Fastify({
    ...(options.logger === undefined || options.logger === false ? { logger: false } : { loggerInstance: options.logger }),
    bodyLimit: config.write.maxBodyBytes,
    // Pushes are answered quickly or fail over; a client that never finishes sending is cut off.
    requestTimeout: config.write.timeoutMs * 2,
    // No log line per push: the hot path logs failures only (see createFailureLog).
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    frameworkErrors(error, _request, frameworkReply) {
      sendFrameworkError(error, frameworkReply as unknown as FastifyReply);
    },
  });
  const log = app.log;
  const { shardLabel, replicaLabel } = config.discovery;
  // With honor_labels, a pushed shard or replica label would hide the target's: both replicas'
  // copies would become one series.
  const reservedLabelOf = (labels: GroupLabels): string | undefined => {
    for (const [name] of labels) if (name === shardLabel || name === replicaLabel) return name;
    return undefined;
  };
  const fixedTargets = formatTargets(buildTargets(config));
  const targets = options.targets ?? (() => fixedTargets);
  const metrics = options.metrics ?? createSelfMetrics(cluster);
  const countPush = metrics.countPush.bind(metrics);
  const shouldLog = createThrottle(10_000);
  const observers = [metrics.observer, createFailureLog(log, shouldLog)];
  const { suspects } = options;
  if (suspects !== undefined) observers.push(createMissedWriteLog(suspects, options.hints));
  const observer = combineObservers(...observers);
  const limiter = createLimiter(config.limits, options.sharedLimitStore, {
    ...metrics.limits,
    storeFailed(error, firstOfIncident) {
      metrics.limits.storeFailed(error, firstOfIncident);
      if (firstOfIncident) {
        log.warn({ err: error.message, policy: config.limits.onStoreError }, 'Redis failed: rate limits are now local to each front door (or open) until it answers again');
      }
    },
    storeRecovered() {
      metrics.limits.storeRecovered();
      log.info('Redis answers again: rate limits are shared again');
    },
  });
  app.addHook('onClose', async () => {
    await limiter?.close();
  });
  cluster.onHealthChange((b, up, reason) => {
    // No suspect mark here: a replica down misses writes only if writes were skipped (which
    // marks it), and a restart shows as a new start_time. A probe that merely timed out under
    // load would otherwise leave a shard without a trusted replica.
    if (up) log.info({ shard: b.shard, replica: b.replica, url: b.url, reason }, 'replica is up');
    else log.warn({ shard: b.shard, replica: b.replica, url: b.url, reason }, 'replica is down; writes skip it until a health probe succeeds');
  });

  // The body is forwarded byte for byte whatever its type (text, protobuf, gzip): never parsed.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const handlePush = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const parsed = parseGroupingPath(request.url);
    const method = request.method;
    if (!parsed.ok || !isPushMethod(method)) {
      await refuse(reply, parsed, method, countPush);
      return;
    }
    const reserved = reservedLabelOf(parsed.key.labels);
    if (reserved !== undefined) {
      const error = renderError('PUSHRING_RESERVED_LABEL', { label: reserved });
      metrics.countPush(method, error.status);
      await sendGoError(reply.code(error.status).header('x-pushring-error', 'PUSHRING_RESERVED_LABEL'), error.body.trimEnd());
      return;
    }
    if (limiter !== undefined && (method !== 'DELETE' || limiter.limitDeletes)) {
      const checked = limiter.check(parsed.key.job);
      const decision = checked instanceof Promise ? await checked : checked;
      if (decision !== undefined && !decision.allowed) {
        await refuseOverLimit(reply, decision, parsed.key.job, method);
        return;
      }
    }
    const owner = cluster.ownerOf(parsed.key.canonical);
    // DELETE bodies go too: a Pushgateway gunzips every request and refuses a bad gzip body.
    const body = request.body instanceof Buffer ? request.body : null;
    const outgoing = { group: parsed.key.canonical, method, path: request.url, headers: forwardedHeaders(request.raw.rawHeaders), body, receivedAt: Date.now() };
    const fenced = cluster.fence?.map((ring) => ring.ownerOf(parsed.key.canonical)).find((shard) => shard !== owner.name);
    if (fenced !== undefined) {
      await sendError(reply, method, 'PUSHRING_RING_BEHIND', { shard: fenced });
      return;
    }
    const previous = cluster.previousOwnerOf(parsed.key.canonical);
    if (previous === undefined) {
      const outcome = await writeToShard(owner, requiredAcks(config.write.ack, owner.backends.length), outgoing, observer);
      await sendOutcome(reply, outcome, owner.name, owner.backends.length, method);
      return;
    }
    // A group moving in a ring change: its old owner stays the authority until the change has
    // settled, so it is written first; the new owner gets the push only once the old one stored
    // it, and before the client hears (a client's next push then reaches it after this one).
    // Both must meet the ack policy: the new owner becomes the authority when the change settles,
    // which this front door may learn a heartbeat late. See docs/resizing.md.
    const first = await writeToShard(previous, requiredAcks(config.write.ack, previous.backends.length), outgoing, observer);
    if (first.kind !== 'answer' || first.status >= 300) {
      await sendOutcome(reply, first, previous.name, previous.backends.length, method);
      return;
    }
    const second = await writeToShard(owner, requiredAcks(config.write.ack, owner.backends.length), outgoing, observer);
    if (second.kind === 'answer') {
      // A refusal by the new owner (its other groups conflict with this push) is passed on.
      await sendOutcome(reply, second.status < 300 ? first : second, previous.name, previous.backends.length, method);
      return;
    }
    await sendError(reply, method, 'PUSHRING_MOVE_INCOMPLETE', { shard: owner.name, stored: second.stored, required: second.required });
  };

  /** One of pushring's own errors (errors.ts), counted; `headers` go with it. */
  const sendError = async (reply: FastifyReply, method: string, code: ErrorCode, ctx: ErrorContext, headers: Record<string, string> = {}): Promise<void> => {
    const error = renderError(code, ctx);
    metrics.countPush(method, error.status);
    await reply.code(error.status).type(TEXT).headers({ 'x-pushring-error': code, ...headers }).send(error.body);
  };

  const refuseOverLimit = async (reply: FastifyReply, decision: Decision, job: string, method: string): Promise<void> => {
    const retryAfterS = Math.max(1, Math.ceil(decision.resetMs / 1000));
    const { rule } = decision;
    await sendError(reply, method, 'PUSHRING_RATE_LIMITED', { job, rule: rule.name, pushes: rule.pushes, windowSeconds: rule.windowSeconds, retryAfterS }, {
      'retry-after': String(retryAfterS),
      'x-ratelimit-limit': String(rule.pushes),
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(retryAfterS),
    });
  };

  const sendOutcome = async (reply: FastifyReply, outcome: Outcome, shard: string, replicas: number, method: string): Promise<void> => {
    if (outcome.kind === 'answer') {
      metrics.countPush(method, outcome.status);
      reply.code(outcome.status);
      if (outcome.contentType !== undefined) reply.header('content-type', outcome.contentType);
      if (outcome.status >= 400) reply.header('x-content-type-options', 'nosniff');
      // An empty success has no Content-Type, as from a Pushgateway (Fastify would add one).
      await reply.send(outcome.body.length > 0 ? outcome.body : undefined);
      return;
    }
    const code: ErrorCode = `PUSHRING_${outcome.code}`;
    if (shouldLog(shard)) {
      log.warn({ shard, code, stored: outcome.stored, required: outcome.required }, 'push failed: too few replicas stored it');
    }
    await sendError(reply, method, code, { shard, stored: outcome.stored, replicas, required: outcome.required });
  };

  // Every method: non-push methods on a push path get the Pushgateway's 405 (or 200 for OPTIONS).
  for (const url of ['/metrics/job/*', '/metrics/job@base64/*']) {
    app.route({
      method: ['PUT', 'POST', 'DELETE', 'GET', 'HEAD', 'PATCH', 'OPTIONS'],
      url,
      // Fastify would refuse a Content-Type it cannot parse (`text`, empty) with 415; the
      // Pushgateway takes any, so the body parser is told a fixed one. The replicas still get
      // the client's own header: forwarding reads the raw headers.
      onRequest: (request, _reply, done) => {
        request.headers['content-type'] = 'application/octet-stream';
        done();
      },
      handler: handlePush,
      exposeHeadRoute: false,
    });
  }

  app.get('/-/healthy', async (_req, reply) => {
    await reply.type(TEXT).send('OK\n');
  });
  app.get('/-/ready', async (_req, reply) => {
    const down = cluster.unavailableShards();
    if (down.length === 0) {
      await reply.type(TEXT).send('OK\n');
      return;
    }
    await reply.code(503).type(TEXT).send(`not ready: no live replica in shard(s) ${down.join(', ')}\n`);
  });
  // Prometheus http_sd: the same target list as the file_sd file.
  app.get('/-/sd/targets', async (_req, reply) => {
    await reply.type('application/json').send(targets());
  });
  // What a front door is doing: the ring in force, its phase, every shard and replica.
  app.get('/-/status', async (_req, reply) => {
    const owners = new Set(cluster.ring.shards);
    await reply.send({
      ringVersion: cluster.version,
      phase: cluster.phase,
      shards: [...cluster.shards.values()].map((s) => ({
        name: s.name,
        owning: owners.has(s.name),
        replicas: s.backends.map((b) => ({ replica: b.replica, url: b.url, up: b.up })),
      })),
    });
  });
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics();
    await reply.type(metrics.registry.contentType).send(text);
  });

  app.setErrorHandler(async (error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const rendered = renderError('PUSHRING_BODY_TOO_LARGE', { limitBytes: config.write.maxBodyBytes });
      await reply.code(rendered.status).type(TEXT).header('x-pushring-error', 'PUSHRING_BODY_TOO_LARGE').send(rendered.body);
      return;
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      await reply.code(error.statusCode).type(TEXT).send(`${error.message}\n`);
      return;
    }
    request.log.error({ err: error }, 'unhandled error');
    const rendered = renderError('PUSHRING_INTERNAL');
    await reply.code(rendered.status).type(TEXT).header('x-pushring-error', 'PUSHRING_INTERNAL').send(rendered.body);
  });
  app.route({
    method: ['PUT', 'POST', 'DELETE', 'PATCH'],
    url: '/metrics',
    handler: async (_req, reply) => {
      await sendGoError(reply.code(405).header('allow', 'GET, OPTIONS'), 'Method Not Allowed');
    },
  });
  app.setNotFoundHandler(async (request, reply) => {
    // Push paths spelled in another case are redirected by the Pushgateway's router, and any
    // unclean path (`//metrics/job/a`) by Go's ServeMux before that.
    const parsed = parseGroupingPath(request.url);
    if (!parsed.ok && parsed.kind === 'redirect') return refuse(reply, parsed, request.method, countPush);
    await sendGoError(reply.code(404), '404 page not found');
  });
  return app;
}
