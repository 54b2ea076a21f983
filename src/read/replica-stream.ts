/**
 * A replica's answer to a read (GET /metrics, GET /api/v1/metrics), streamed chunk by chunk with
 * pushring's own credentials for it (TLS files, basic auth) and a time-out on each wait for the
 * replica: while the front door's client is slow, or another shard's part of a merge is being
 * sent, the replica is not read and its connection waits (TCP flow control bounds what is
 * buffered), and that time does not count against it.
 *
 * A pool of its own per replica, apart from the write path's: a long read never holds a
 * connection a push waits for.
 */
import { Pool } from 'undici';
import type { Backend } from '../backends/client.js';
import { readConnectOptions } from '../backends/client.js';
import type { Cluster } from '../backends/cluster.js';
import { readSecret } from '../auth/secrets.js';
import { resolveReplicas, type ResolvedReplica } from '../core/replicas.js';

export interface ReplicaStream {
  /** The next chunk, or undefined at the end; rejects on a time-out or a failure of the replica. */
  next(): Promise<Buffer | undefined>;
  /** Stops reading (the rest is dropped). */
  close(): void;
}

export interface ReplicaReader {
  /** Opens `path` on `backend`; rejects unless it answers 200 within the time-out. */
  open(backend: Backend, path: string): Promise<ReplicaStream>;
  close(): Promise<void>;
}

export function createReplicaReader(cluster: Cluster, timeoutMs: number): ReplicaReader {
  // One per replica URL and client settings in force; replicas removed by a reload are closed.
  const pools = new Map<string, { pool: Pool; replica: ResolvedReplica }>();
  const resolved = (backend: Backend): ResolvedReplica => {
    const index = cluster.shardConfigs.findIndex((s) => s.name === backend.shard);
    const shard = cluster.shardConfigs[index];
    const replica = shard === undefined ? undefined : resolveReplicas(shard, index)[Number(backend.replica)];
    if (replica === undefined) throw new Error(`replica ${backend.id} is no longer in the ring`);
    return replica;
  };
  const poolOf = (backend: Backend): { pool: Pool; replica: ResolvedReplica } => {
    const replica = resolved(backend);
    const key = `${backend.id}\u0000${replica.url}\u0000${JSON.stringify(replica.client)}`;
    let entry = pools.get(key);
    if (entry === undefined) {
      for (const [k, old] of pools) {
        if (k.startsWith(`${backend.id}\u0000`)) {
          pools.delete(k);
          void old.pool.close().catch(() => undefined);
        }
      }
      const origin = new URL(replica.url).origin;
      entry = {
        pool: new Pool(origin, { ...readConnectOptions(replica.client), connections: 4, headersTimeout: timeoutMs, bodyTimeout: 0, connectTimeout: timeoutMs }),
        replica,
      };
      pools.set(key, entry);
    }
    return entry;
  };

  return {
    async open(backend, path) {
      const { pool, replica } = poolOf(backend);
      const headers: Record<string, string> = {};
      const basicAuth = replica.client.basicAuth;
      if (basicAuth !== undefined) {
        const password = await readSecret(basicAuth.password);
        headers['authorization'] = 'Basic ' + Buffer.from(`${basicAuth.username}:${password}`).toString('base64');
      }
      const base = new URL(replica.url).pathname.replace(/\/+$/, '');
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new Error(`GET ${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
      const res = await pool.request({ method: 'GET', path: base + path, headers, signal: abort.signal }).finally(() => clearTimeout(timer));
      const body = res.body;
      body.on('error', () => undefined);
      if (res.statusCode !== 200) {
        body.destroy();
        throw new Error(`GET ${path} answered ${res.statusCode}`);
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
    },
    async close() {
      await Promise.all([...pools.values()].map((e) => e.pool.close().catch(() => undefined)));
      pools.clear();
    },
  };
}
