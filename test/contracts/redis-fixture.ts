/**
 * The Redis side of the store contracts: a real redis-server for the suite, clients that fail
 * fast as pushring's own do (createRedisClient), a key prefix of its own for every store made,
 * and servers of their own for outage tests, killed in teardown.
 */
import type { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createRedisClient } from '../../src/limits/redis-client.js';
import { waitFor } from '../helpers/processes.js';
import { startRedis, startRedisCluster, type RedisCluster, type RedisServer } from '../helpers/redis.js';
import type { ContractOptions, Make, Outage } from './fixture.js';

/** A store built on a client and a key prefix, given what the contract varies. */
export type Bind<A extends unknown[], S> = (client: Redis | Cluster, prefix: string, ...args: A) => S;

export interface RedisFixture {
  /** The client the fresh stores use, for checks beyond a contract (what a key holds). */
  client(): Redis | Cluster;
  /** A key prefix no other store uses. */
  prefix(): string;
  /** Every store on the suite's server, each with a key prefix no other store uses. */
  fresh<A extends unknown[], S>(bind: Bind<A, S>): Make<A, S>;
  /** The sharing and outage options of a contract, for the same store. */
  options<A extends unknown[], S>(bind: Bind<A, S>): ContractOptions<A, S>;
}

const CLIENT = { commandTimeoutMs: 500, connectTimeoutMs: 1_000, keyPrefix: '' } as const;

function connect(target: { url: string } | { cluster: RedisCluster['nodes'] }): Redis | Cluster {
  const client = createRedisClient({ ...CLIENT, ...target });
  // Failures reach the stores through their commands; this keeps ioredis from reporting them.
  client.on('error', () => undefined);
  return client;
}

const ready = (clients: ReadonlyArray<Redis | Cluster>, what: string): Promise<unknown> =>
  waitFor(async () => clients.every((c) => c.status === 'ready'), { what, timeoutMs: 20_000, intervalMs: 20 });

/**
 * Registers the suite's hooks: one server (or, with `cluster`, a Redis Cluster of three
 * masters) for every test, two clients to it (two front doors), outage servers per test.
 */
export function useRedisFixture(opts: { cluster?: boolean } = {}): RedisFixture {
  let server: RedisServer | undefined;
  let cluster: RedisCluster | undefined;
  const clients: Array<Redis | Cluster> = [];
  const outages: Array<{ server: RedisServer; clients: Array<Redis | Cluster> }> = [];
  let stores = 0;
  const prefix = (): string => `contract-${process.pid}-${++stores}:`;

  beforeAll(async () => {
    if (opts.cluster === true) cluster = await startRedisCluster();
    else server = await startRedis();
    const target = cluster === undefined ? { url: server!.url } : { cluster: cluster.nodes };
    clients.push(connect(target), connect(target));
    await ready(clients, 'the contract suite’s Redis clients to be ready');
  });
  afterEach(async () => {
    for (const outage of outages.splice(0)) {
      for (const c of outage.clients) c.disconnect();
      await outage.server.close();
    }
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all([server?.close(), cluster?.close()]);
  });

  const fresh =
    <A extends unknown[], S>(bind: Bind<A, S>): Make<A, S> =>
    (...args) =>
      bind(clients[0]!, prefix(), ...args);

  function options<A extends unknown[], S>(bind: Bind<A, S>): ContractOptions<A, S> {
    const sharing = (): Make<A, S> => {
      const shared = prefix();
      let made = 0;
      return (...args) => bind(clients[made++ % clients.length]!, shared, ...args);
    };
    // An outage of one cluster node is the topology suite's business, not the contract's.
    if (opts.cluster === true) return { sharing };
    const outage = async (): Promise<Outage<A, S>> => {
      const own = await startRedis();
      const pair = [connect(own), connect(own)];
      outages.push({ server: own, clients: pair });
      await ready(pair, 'the outage server’s clients to be ready');
      const shared = prefix();
      let made = 0;
      return {
        make: (...args) => bind(pair[made++ % pair.length]!, shared, ...args),
        down: () => own.kill(),
        async up() {
          await own.restart();
          await ready(pair, 'the clients to reconnect to the restarted Redis');
        },
      };
    };
    return { sharing, outage };
  }

  return { client: () => clients[0]!, prefix, fresh, options };
}
