/**
 * Real redis-servers on loopback ports, each with its own directory, nothing persisted: a
 * standalone server, a Redis Cluster of three masters, and a master watched by one Sentinel.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, removeTempDir, requireBinary, spawnProcess, tempDir, waitFor, type ManagedProcess } from './processes.js';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  process: ManagedProcess;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port, empty. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const binary = requireBinary('redis-server');
  const dir = await tempDir('pushring-redis-');
  const port = await freePort();
  const launch = async (): Promise<ManagedProcess> => {
    const proc = spawnProcess(
      binary,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'],
      { logFile: join(dir, 'redis.log') },
    );
    await waitFor(() => ping(port), { what: `redis-server on port ${port} to answer PING`, timeoutMs: 10_000 });
    return proc;
  };
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: await launch(),
    async kill() {
      server.process.kill('SIGKILL');
      await server.process.exited;
    },
    async restart() {
      if (server.process.alive()) await server.kill();
      server.process = await launch();
    },
    async close() {
      await server.kill();
      await removeTempDir(dir);
    },
  };
  return server;
}

/** True once the server answers PING with PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

export interface RedisCluster {
  /** Every master, as the `redis.cluster` option takes them. */
  readonly nodes: RedisNodeAddress[];
  /** The node processes, in the order of `nodes`. */
  readonly processes: ManagedProcess[];
  close(): Promise<void>;
}

export interface RedisSentinel {
  /** The sentinels, as the `redis.sentinels` option takes them. */
  readonly sentinels: RedisNodeAddress[];
  /** The name of the master set the sentinels watch. */
  readonly name: string;
  readonly master: RedisServer;
  /** The sentinel process. */
  readonly process: ManagedProcess;
  close(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';
const CLUSTER_SLOTS = 16_384;
// A cluster node also listens on its port + 10000 (the cluster bus), so no node port may exceed this.
const MAX_CLUSTER_PORT = 65_535 - 10_000;
const LAUNCH_ATTEMPTS = 5;

/**
 * Three masters, no replicas, the slots split evenly, built with raw CLUSTER commands (no
 * redis-cli): ADDSLOTSRANGE and SET-CONFIG-EPOCH on each node, then MEET; resolves once every
 * node reports cluster_state:ok and serves the whole slot map.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const binary = requireBinary('redis-server');
  const dir = await tempDir('pushring-redis-cluster-');
  const processes: ManagedProcess[] = [];
  const ports: number[] = [];
  const close = async (): Promise<void> => {
    for (const proc of processes) proc.kill('SIGKILL');
    await Promise.all(processes.map((proc) => proc.exited));
    await removeTempDir(dir);
  };
  try {
    for (let i = 0; i < 3; i++) {
      const { port, proc } = await launchUntilUp(
        () => clusterPortCandidate(ports),
        async (port) =>
          spawnProcess(
            binary,
            [
              '--port',
              String(port),
              '--bind',
              LOOPBACK,
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              join(dir, `nodes-${port}.conf`),
              '--save',
              '',
              '--appendonly',
              'no',
              '--dir',
              dir,
              '--protected-mode',
              'no',
            ],
            { logFile: join(dir, `redis-${port}.log`) },
          ),
        // Both the client port and the cluster bus must be free.
        async (port) => (await portIsFree(port)) && (await portIsFree(port + 10_000)),
      );
      ports.push(port);
      processes.push(proc);
    }

    const ranges = ports.map((_, i) => [Math.floor((CLUSTER_SLOTS * i) / ports.length), Math.floor((CLUSTER_SLOTS * (i + 1)) / ports.length) - 1] as const);
    await Promise.all(
      ports.map((port, i) =>
        withConnection(port, async (redis) => {
          await redis.call('CLUSTER', 'ADDSLOTSRANGE', String(ranges[i]![0]), String(ranges[i]![1]));
          // Distinct epochs up front, as redis-cli does, so no epoch collision has to be resolved.
          await redis.call('CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1));
        }),
      ),
    );
    await withConnection(ports[0]!, async (redis) => {
      for (const port of ports.slice(1)) await redis.call('CLUSTER', 'MEET', LOOPBACK, String(port));
    });

    const expectedSlots = JSON.stringify(ranges.map(([from, to], i) => [from, to, ports[i]]));
    await waitFor(
      async () => {
        for (const port of ports) {
          const ok = await withConnection(port, async (redis) => {
            const info = String(await redis.call('CLUSTER', 'INFO'));
            if (!/^cluster_state:ok\r?$/m.test(info) || !new RegExp(`^cluster_known_nodes:${ports.length}\\r?$`, 'm').test(info)) return false;
            const slots = (await redis.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
            const served = slots.map(([from, to, [, nodePort]]) => [from, to, nodePort]).sort((a, b) => a[0]! - b[0]!);
            return JSON.stringify(served) === expectedSlots;
          });
          if (!ok) return false;
        }
        return true;
      },
      { what: `the Redis Cluster on ports ${ports.join(', ')} to be ok on every node`, timeoutMs: 30_000, intervalMs: 100 },
    );
  } catch (err) {
    await close();
    throw err;
  }
  return { nodes: ports.map((port) => ({ host: LOOPBACK, port })), processes, close };
}

/**
 * A master (startRedis) and one redis-server in Sentinel mode watching it as `mymaster` with a
 * quorum of 1; resolves once the sentinel names the master's address.
 */
export async function startRedisSentinel(): Promise<RedisSentinel> {
  const binary = requireBinary('redis-server');
  const name = 'mymaster';
  const master = await startRedis();
  let dir: string | undefined;
  let proc: ManagedProcess | undefined;
  const close = async (): Promise<void> => {
    if (proc !== undefined) {
      proc.kill('SIGKILL');
      await proc.exited;
    }
    await master.close();
    if (dir !== undefined) await removeTempDir(dir);
  };
  try {
    const sentinelDir = (dir = await tempDir('pushring-redis-sentinel-'));
    const launched = await launchUntilUp(
      () => freePort(),
      async (port) => {
        // Sentinel rewrites its configuration file, so each attempt gets a fresh, writable one.
        const conf = join(sentinelDir, `sentinel-${port}.conf`);
        await writeFile(
          conf,
          [
            `port ${port}`,
            `bind ${LOOPBACK}`,
            `dir ${sentinelDir}`,
            `sentinel monitor ${name} ${LOOPBACK} ${master.port} 1`,
            `sentinel down-after-milliseconds ${name} 1000`,
            '',
          ].join('\n'),
        );
        return spawnProcess(binary, [conf, '--sentinel'], { logFile: join(sentinelDir, `sentinel-${port}.log`) });
      },
    );
    proc = launched.proc;
    const port = launched.port;
    await waitFor(
      async () => {
        const address = await withConnection(port, (redis) => redis.call('SENTINEL', 'get-master-addr-by-name', name));
        return Array.isArray(address) && address[0] === LOOPBACK && address[1] === String(master.port);
      },
      { what: `the sentinel on port ${port} to name master ${name}`, timeoutMs: 10_000, intervalMs: 50 },
    );
    return { sentinels: [{ host: LOOPBACK, port }], name, master, process: proc, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Starts a redis-server on a candidate port and waits until that very process answers on it;
 * when it exits first (the port was taken meanwhile), tries again on another port.
 */
async function launchUntilUp(
  candidate: () => number | Promise<number>,
  launch: (port: number) => Promise<ManagedProcess>,
  usable: (port: number) => Promise<boolean> = () => Promise.resolve(true),
): Promise<{ port: number; proc: ManagedProcess }> {
  let lastError: unknown;
  for (let candidates = 0, launches = 0; launches < LAUNCH_ATTEMPTS && candidates < 100; candidates++) {
    const port = await candidate();
    if (!(await usable(port))) continue;
    launches++;
    const proc = await launch(port);
    const exited = new AbortController();
    void proc.exited.then(() => exited.abort());
    try {
      // Its own pid in INFO, not just any PONG: another suite's server may have won the port.
      await waitFor(
        async () => {
          const info = await withConnection(port, (redis) => redis.call('INFO', 'server'));
          return new RegExp(`^process_id:${proc.pid}\\r?$`, 'm').test(String(info));
        },
        { what: `redis-server (pid ${proc.pid}) to answer on port ${port}`, timeoutMs: 10_000, signal: exited.signal },
      );
      return { port, proc };
    } catch (err) {
      lastError = err;
      proc.kill('SIGKILL');
      await proc.exited;
    }
  }
  throw new Error(`could not start redis-server in ${LAUNCH_ATTEMPTS} attempts: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
}

/**
 * A port for a cluster node: at most MAX_CLUSTER_PORT, and, where possible, with both it and its
 * bus port outside the kernel's ephemeral range, so that no port-0 listener (freePort) or
 * outgoing connection can take either between the check and redis-server's bind.
 */
function clusterPortCandidate(taken: readonly number[]): number {
  const [low, high] = ephemeralPortRange();
  const outside = (port: number): boolean => port < low || port > high;
  const clashes = (port: number): boolean => taken.some((t) => Math.abs(t - port) === 10_000 || t === port);
  const random = (from: number, to: number): number => from + Math.floor(Math.random() * (to - from + 1));
  for (let i = 0; i < 10_000; i++) {
    const port = random(20_000, MAX_CLUSTER_PORT);
    if (outside(port) && outside(port + 10_000) && !clashes(port)) return port;
  }
  for (;;) {
    const port = random(30_000, 55_000);
    if (!clashes(port)) return port;
  }
}

function ephemeralPortRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // Not Linux: assume the IANA range.
  }
  return [49_152, 65_535];
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, LOOPBACK, () => server.close(() => resolve(true)));
  });
}

/** One short-lived connection that neither queues nor retries, for setting up and probing. */
async function withConnection<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    host: LOOPBACK,
    port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
    commandTimeout: 2_000,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}
