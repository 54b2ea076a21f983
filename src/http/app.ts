/**
 * Assembles the front door: the push routes (the pipeline is push.ts), health and readiness,
 * self-metrics and the error handler. It owns no process concerns (see server.ts) and builds no
 * shared state (see runtime.ts); tests build it through this function.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Cluster } from '../backends/cluster.js';
import type { AuthConfig, Config } from '../config/schema.js';
import { parseGroupingPath } from '../core/grouping-key.js';
import { buildTargets, formatTargets } from '../discovery/targets.js';
import { createStartingJudge, type IndexJudge } from '../judge/index-judge.js';
import { createLimiter } from '../limits/limiter.js';
import type { WindowStore } from '../limits/store.js';
import type { HintStore } from '../reconcile/hints.js';
import type { SuspectStore } from '../reconcile/suspects.js';
import { registerAdmin } from './admin.js';
import { registerAuth } from './auth.js';
import { registerPage } from './page.js';
import { createBodyBudget } from './body-budget.js';
import { sendError } from './errors.js';
import { TEXT, refuse, sendFrameworkError, sendGoError } from './go-compat.js';
import { combineObservers, createFailureLog, createMissedWriteLog, createThrottle } from './logging.js';
import { createBodyJudge } from './judging.js';
import { createModeWatch } from './mode-watch.js';
import { checkFence, checkRateLimit, checkReservedLabels, createPushHandler, type Check } from './push.js';
import { createSelfMetrics, type SelfMetrics } from './self-metrics.js';
import { parseGroupQuery } from '../core/group-list.js';
import { createReadGate, PAGE_READS } from '../read/gate.js';
import { createGroupLister } from '../read/groups.js';
import { MAX_LEFT_OUT_SERIES, gated, ringStatusOf, serveApiMetrics, serveTextMetrics, statusOf, type ChangeProgress, type ReadDeps } from '../read/reads.js';
import { RECENT_REFUSALS, createRefusalLog, registerRefusalLog } from './refusals.js';
import { limitBodies, limitServer, serverOptions } from './server-options.js';
import { httpsOptions, readTlsFiles, watchTls } from './tls.js';

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
  /** The index pushes are judged against with judge.mode `front-door` (the runtime's); absent: one in memory, built from the backends. */
  readonly judge?: IndexJudge;
  /** The `auth` section in force, when it follows configuration reloads (the runtime's); absent: `config.auth` for good. */
  readonly auth?: () => Readonly<AuthConfig>;
  /** What this front door's reconciler last found of a ring change (the runtime's); absent: none runs here. */
  readonly changeProgress?: () => ChangeProgress | undefined;
}

export function buildApp(options: AppOptions): FastifyInstance {
  const { config, cluster } = options;
  // Read at build: a TLS file that cannot be served fails the start, naming the file.
  const tlsFiles = readTlsFiles(config.tls);
  // With `https` Fastify types the server as https.Server; every caller uses only what both
  // servers have (inject, listen, close, the server's limits), so the app keeps the plain type.
  const app = Fastify({
    ...serverOptions(config.server),
    ...(httpsOptions(config.tls, tlsFiles, config.server) as object),
    ...(options.logger === undefined || options.logger === false ? { logger: false } : { loggerInstance: options.logger }),
    bodyLimit: config.write.maxBodyBytes,
    // No log line per push: the hot path logs failures only (see createFailureLog).
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    frameworkErrors(error, _request, frameworkReply) {
      sendFrameworkError(error, frameworkReply);
    },
  });
  limitServer(app, config.server);
  const log = app.log;
  const fixedTargets = formatTargets(buildTargets(config));
  const targets = options.targets ?? (() => fixedTargets);
  const metrics = options.metrics ?? createSelfMetrics(cluster);
  watchTls(app, config.tls, tlsFiles, metrics.registry);
  const countPush = metrics.countPush.bind(metrics);
  // Before the body is read and before any route: a refused client costs its headers only.
  registerAuth(app, config.auth, metrics, options.auth);
  // Every refused write, whoever refused it, for people (the page at `/`).
  const refusals = createRefusalLog();
  registerRefusalLog(app, refusals);
  // After auth: a refused request reserves nothing, and only a write's body is read at all.
  const bodies = createBodyBudget(config.server.maxInflightBodyBytes);
  limitBodies(app, bodies, config.write.maxBodyBytes);
  const shouldLog = createThrottle(10_000);
  const observers = [metrics.observer, createFailureLog(log, shouldLog)];
  const { suspects } = options;
  if (suspects !== undefined) observers.push(createMissedWriteLog(suspects, options.hints));
  const indexJudge = config.judge.mode === 'backends' ? undefined : (options.judge ?? createStartingJudge(config.judge, () => cluster.backends));
  const modeWatch = createModeWatch(config.judge.mode, (b, message) => log.warn({ shard: b.shard, replica: b.replica, url: b.url }, message));
  observers.push(modeWatch);
  metrics.watchJudge(indexJudge, () => modeWatch.mismatched());
  const limiter = createLimiter(config.limits, options.sharedLimitStore, {
    ...metrics.limits,
    storeFailed(error, firstOfIncident) {
      metrics.limits.storeFailed(error, firstOfIncident);
      if (firstOfIncident) {
        log.warn(
          { err: error.message, policy: config.limits.onStoreError },
          'Redis failed: rate limits are now local to each front door (or open) until it answers again',
        );
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

  // Every front door says it, not only the lease holder that heals it.
  cluster.onScrapeChange((b, state, reason) => {
    if (state === 'broken')
      log.warn({ shard: b.shard, replica: b.replica, url: b.url, reason }, "replica's scrape is broken: Prometheus gets none of its groups");
    else if (state === 'ok') log.info({ shard: b.shard, replica: b.replica, url: b.url }, "replica's scrape answers 200");
  });

  // The body is forwarded byte for byte whatever its type (text, protobuf, gzip); judging reads a parsed view of it.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  // Fastify would refuse a Content-Type it cannot parse (`text`, empty, `;;;`) with 415 on any
  // path; the Pushgateway takes any, so the body parser is told a fixed one. The replicas still
  // get the client's own header: forwarding and judging read the raw headers.
  app.addHook('onRequest', (request, _reply, done) => {
    request.headers['content-type'] = 'application/octet-stream';
    done();
  });

  // The rules every push passes, in order (push.ts). A new rule is one more entry.
  const checks: Check[] = [checkReservedLabels(config.discovery), ...(limiter === undefined ? [] : [checkRateLimit(limiter)])];
  const handlePush = createPushHandler({
    cluster,
    ack: config.write.ack,
    checks,
    judge: createBodyJudge(config.judge, indexJudge, (reason) => metrics.judgeRefused(reason), bodies),
    lastCheck: checkFence(cluster),
    observer: combineObservers(...observers),
    countPush,
    log,
    shouldLog,
  });

  // Every method: non-push methods on a push path get the Pushgateway's 405 (or 200 for OPTIONS).
  for (const url of ['/metrics/job/*', '/metrics/job@base64/*']) {
    app.route({
      method: ['PUT', 'POST', 'DELETE', 'GET', 'HEAD', 'PATCH', 'OPTIONS'],
      url,
      handler: handlePush,
      exposeHeadRoute: false,
    });
  }

  registerAdmin(app, {
    cluster,
    ack: config.write.ack,
    judge: createBodyJudge(config.judge, indexJudge),
    lastCheck: checkFence(cluster),
    observer: combineObservers(...observers),
    metrics,
    log,
  });

  app.get('/-/healthy', async (_req, reply) => {
    await reply.type(TEXT).send('OK\n');
  });
  app.get('/-/ready', async (_req, reply) => {
    const down = cluster.unavailableShards();
    if (down.length === 0) {
      await reply.type(TEXT).send('OK\n');
      return;
    }
    await reply
      .code(503)
      .type(TEXT)
      .send(`not ready: no live replica in shard(s) ${down.join(', ')}\n`);
  });
  // Prometheus http_sd: the same target list as the file_sd file.
  app.get('/-/sd/targets', async (_req, reply) => {
    await reply.type('application/json').send(targets());
  });
  app.get('/-/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics();
    await reply.type(metrics.registry.contentType).send(text);
  });
  // Reads as one Pushgateway holding every group (src/read/reads.ts).
  const reads: ReadDeps = {
    cluster,
    log,
    startedAt: Date.now(),
    leftOut: createBodyBudget(MAX_LEFT_OUT_SERIES),
    ...(suspects === undefined ? {} : { suspects }),
    ...(options.changeProgress === undefined ? {} : { progress: options.changeProgress }),
  };
  // HEAD is not offered: a Pushgateway answers HEAD /metrics with 405 (the route below).
  // Places for reads of every group (read/gate.ts): the scripts' and the page's apart.
  const gate = createReadGate(config.server.maxConcurrentReads);
  app.get('/metrics', { exposeHeadRoute: false }, (_req, reply) => gated(gate, reply, false, () => serveTextMetrics(reads, reply)));
  app.get('/api/v1/metrics', { exposeHeadRoute: false }, (_req, reply) => gated(gate, reply, true, () => serveApiMetrics(reads, reply)));
  app.get('/api/v1/status', async (_req, reply) => {
    await reply.type('application/json').send(statusOf(reads));
  });
  // What a front door is doing: the ring in force, a change under way, every shard and replica.
  app.get('/-/status', async (_req, reply) => {
    await reply.send(ringStatusOf(reads));
  });
  registerPage(app);
  // For the page at `/`: the groups with their shard, and the writes recently refused here.
  const listGroups = createGroupLister(reads, createReadGate(PAGE_READS));
  app.get('/-/api/groups', async (request, reply) => {
    const parsed = parseGroupQuery(request.query as Record<string, unknown>);
    if (!parsed.ok) {
      await sendError(reply, 'PUSHRING_BAD_QUERY', { problem: parsed.problem });
      return;
    }
    const list = await listGroups(parsed.query);
    if (list === undefined) await sendError(reply, 'PUSHRING_READS_BUSY', { reads: PAGE_READS }, { 'retry-after': '1' });
    else await reply.send(list);
  });
  app.get('/-/api/refusals', async (_req, reply) => {
    await reply.send({ capacity: RECENT_REFUSALS, refusals: refusals.recent() });
  });

  app.setErrorHandler(async (error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      await sendError(reply, 'PUSHRING_BODY_TOO_LARGE', { limitBytes: config.write.maxBodyBytes });
      return;
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      await reply.code(error.statusCode).type(TEXT).send(`${error.message}\n`);
      return;
    }
    request.log.error({ err: error }, 'unhandled error');
    await sendError(reply, 'PUSHRING_INTERNAL', undefined);
  });
  app.route({
    method: ['PUT', 'POST', 'DELETE', 'PATCH', 'HEAD'],
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
