/**
 * The process around the front door: the logger, signals, listen, graceful close. The shared
 * state is the runtime's (runtime.ts), the routes the app's (http/app.ts), reloads
 * config/reload.ts's. The only module besides the bin that touches `process`.
 */
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { parseListen } from './config/load.js';
import { watchAndReload, type ReloadTarget } from './config/reload.js';
import type { Config } from './config/schema.js';
import type { ConfigWatcher } from './config/watch.js';
import { buildApp } from './http/app.js';
import { switchCredentials } from './http/auth.js';
import { createRuntime, type Runtime } from './runtime.js';

export interface RunningServer {
  /** The URL clients push to. */
  readonly url: string;
  close(): Promise<void>;
  /** Settles when the server has closed, by a signal or by `close()`. */
  readonly closed: Promise<void>;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export async function startServer(
  config: Readonly<Config>,
  opts: { handleSignals?: boolean; configFile?: { path: string; text: string } } = {},
): Promise<RunningServer> {
  // Synchronous writes: there is no log line per push, and each line must be out before a
  // signal or the end of the process can cut it off.
  const logger = pino({ level: config.log.level, base: { service: 'pushring' } }, pino.destination({ dest: 1, sync: true }));
  const runtime = createRuntime(config, { logger });
  let app: ReturnType<typeof buildApp>;
  try {
    app = buildApp({
      config,
      cluster: runtime.cluster,
      logger,
      suspects: runtime.suspects,
      hints: runtime.hints,
      metrics: runtime.metrics,
      targets: () => runtime.targets,
      auth: () => runtime.config.auth,
      changeProgress: () => runtime.changeProgress(),
      ...(runtime.limitStore === undefined ? {} : { sharedLimitStore: runtime.limitStore }),
      ...(runtime.judge === undefined ? {} : { judge: runtime.judge }),
    });
  } catch (err) {
    // TLS files that cannot be served: nothing of the runtime may keep the process alive.
    await runtime.close().catch(() => undefined);
    throw err;
  }
  let watcher: ConfigWatcher | undefined;

  // Drain first (the app stops accepting and finishes in-flight pushes while probes still run,
  // so a replica that hangs meanwhile is released), then the background work, then sockets.
  const shutDown = async (): Promise<void> => {
    try {
      await app.close();
    } finally {
      await watcher?.stop();
      await runtime.close();
    }
  };
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= shutDown()
      .catch((err: Error) => logger.error({ err: err.message }, 'error while closing'))
      .finally(() => {
        logger.info('closed');
        resolveClosed();
      });
    return closing;
  };

  // From the very start: a signal during start-up (probes, waiting for Redis) ends the start-up
  // instead of killing the process before it has said anything. Later signals while closing are
  // noted; SIGKILL stops at once.
  let starting = true;
  let stopRequested = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopRequested) {
      logger.warn({ signal }, 'already shutting down: waiting for what is under way to finish (SIGKILL stops at once)');
      return;
    }
    stopRequested = true;
    logger.info({ signal }, 'shutting down: finishing in-flight pushes');
    if (!starting) void close();
  };
  if (opts.handleSignals !== false) {
    for (const signal of SIGNALS) process.on(signal, onSignal);
    void closed.then(() => {
      for (const signal of SIGNALS) process.removeListener(signal, onSignal);
    });
  }

  const { host, port } = parseListen(config.listen)!;
  let address = `${config.tls === undefined ? 'http' : 'https'}://${config.listen}`;
  try {
    await runtime.prepare();
    if (!stopRequested) address = await app.listen({ host, port });
  } catch (err) {
    // Nothing may keep the process alive after a failed start (a port in use, say).
    await shutDown().catch(() => undefined);
    resolveClosed();
    throw err;
  } finally {
    starting = false;
  }
  if (stopRequested) {
    void close();
    return { url: address, close, closed };
  }
  runtime.startBackground();
  if (opts.configFile !== undefined) watcher = watchAndReload(opts.configFile, reloadTargetOf(runtime, app));
  logger.info(
    {
      url: address,
      shards: runtime.cluster.ring.shards,
      unavailable: runtime.cluster.unavailableShards(),
      limits: runtime.redis === undefined ? 'memory' : 'redis',
    },
    'pushring front door listening',
  );
  return { url: address, close, closed };
}

/**
 * What a reload changes in a front door: the runtime's ring and discovery, and the credential
 * list of the app's hook (switched first, then recorded as in force in the runtime).
 */
export function reloadTargetOf(runtime: Runtime, app: FastifyInstance): ReloadTarget {
  return {
    get config() {
      return runtime.config;
    },
    get targets() {
      return runtime.targets;
    },
    cluster: runtime.cluster,
    transition: runtime.transition,
    logger: runtime.logger,
    metrics: runtime.metrics,
    judge: runtime.judge,
    useConfig: (next) => runtime.useConfig(next),
    async useAuth(next) {
      await switchCredentials(app, next);
      runtime.useAuth(next);
    },
    reconcileSoon: () => runtime.reconcileSoon(),
  };
}
