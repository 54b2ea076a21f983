/**
 * The one schema of pushring's configuration; the `Config` type is derived from it.
 * Defaults live here and nowhere else; README.md's reference table mirrors them.
 */
import { Type, type Static } from '@sinclair/typebox';

const ShardName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' });

export const ShardSchema = Type.Object(
  {
    name: ShardName,
    /** URLs of the Pushgateways that each hold a full copy of this shard's groups. */
    replicas: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 16 }),
    weight: Type.Integer({ minimum: 1, maximum: 100, default: 1 }),
    /** Owns no groups any more; its backends stay known so that its groups move off it. */
    draining: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);

export const WriteSchema = Type.Object(
  {
    /** How many replicas of the owner shard must store a push before the client hears success. */
    ack: Type.Union([Type.Literal('one'), Type.Literal('majority'), Type.Literal('all')], { default: 'one' }),
    /** Whole-request time-out for one replica write, in milliseconds. */
    timeoutMs: Type.Integer({ minimum: 1, maximum: 600_000, default: 10_000 }),
    /** TCP connect time-out for a replica, in milliseconds. */
    connectTimeoutMs: Type.Integer({ minimum: 1, maximum: 60_000, default: 1_000 }),
    /** Largest push body accepted, in bytes; larger pushes get 413. */
    maxBodyBytes: Type.Integer({ minimum: 1024, maximum: 1 << 30, default: 16 * 1024 * 1024 }),
    /** Keep-alive connections kept open to each replica. */
    connectionsPerBackend: Type.Integer({ minimum: 1, maximum: 1024, default: 32 }),
  },
  { additionalProperties: false, default: {} },
);

export const HealthSchema = Type.Object(
  {
    /** How often every replica's `/-/healthy` is probed, in milliseconds. */
    intervalMs: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 1_000 }),
    /** Time-out of one probe, in milliseconds. */
    timeoutMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 1_000 }),
    /** Consecutive successful probes before a replica that was down takes writes again. */
    upAfterProbes: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
  },
  { additionalProperties: false, default: {} },
);

export const LogSchema = Type.Object(
  {
    level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info' },
    ),
  },
  { additionalProperties: false, default: {} },
);

export const LimitRuleSchema = Type.Object(
  {
    /** Names the rule in metrics and 429 answers; defaults to the pattern. */
    name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:*?-]{1,64}$' })),
    /** Glob over the whole job name: `*` any run of characters, `?` one character. */
    jobs: Type.String({ minLength: 1, maxLength: 256 }),
    /** Pushes allowed per window and job; with `exempt: true`, leave out. */
    pushes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
    windowSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    /** Jobs matching this rule are never limited. */
    exempt: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const LimitSchema = Type.Object(
  {
    pushes: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
  },
  { additionalProperties: false },
);

export const LimitsSchema = Type.Object(
  {
    /** The limit of jobs that no rule matches; absent: such jobs are not limited. */
    default: Type.Optional(LimitSchema),
    /** Tried in order; the first rule whose `jobs` glob matches the job applies. */
    rules: Type.Array(LimitRuleSchema, { maxItems: 1000, default: [] }),
    /** Whether DELETEs count against the limit of their job. */
    limitDeletes: Type.Boolean({ default: false }),
    /** When Redis fails: `local` limits per front door meanwhile, `open` lets every push through. */
    onStoreError: Type.Union([Type.Literal('local'), Type.Literal('open')], { default: 'local' }),
    /** Jobs whose counts one front door keeps in memory at most (the oldest are forgotten first). */
    maxTrackedJobs: Type.Integer({ minimum: 100, maximum: 10_000_000, default: 100_000 }),
  },
  { additionalProperties: false, default: {} },
);

const RedisNode = Type.Object(
  { host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) },
  { additionalProperties: false },
);

export const RedisSchema = Type.Object(
  {
    /** A standalone Redis: `redis://[:password@]host:port[/db]` (or `rediss://`). */
    url: Type.Optional(Type.String({ minLength: 1 })),
    /** Redis Sentinel: the sentinels and the name of the master set. */
    sentinels: Type.Optional(Type.Array(RedisNode, { minItems: 1, maxItems: 32 })),
    sentinelName: Type.Optional(Type.String({ minLength: 1 })),
    /** Redis Cluster: some of its nodes. */
    cluster: Type.Optional(Type.Array(RedisNode, { minItems: 1, maxItems: 64 })),
    password: Type.Optional(Type.String()),
    /** Password of the sentinels themselves, when they require one. */
    sentinelPassword: Type.Optional(Type.String()),
    /** Prefix of every key pushring writes. */
    keyPrefix: Type.String({ default: 'pushring:' }),
    /** A command that takes longer counts as a Redis failure. */
    commandTimeoutMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 250 }),
    connectTimeoutMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 1_000 }),
  },
  { additionalProperties: false },
);

export const ReconcileSchema = Type.Object(
  {
    /** Seconds between passes of the reconciler in `serve`; 0 turns it off there. */
    intervalSeconds: Type.Integer({ minimum: 0, maximum: 86_400, default: 30 }),
    /** Copies and deletes in flight at once, per pass: pushes keep flowing during repairs. */
    concurrency: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
    /** Bounds of the hints (writes a replica missed) kept for replay, per front door. */
    hints: Type.Object(
      {
        maxPerReplica: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 10_000 }),
        /** In memory only (in Redis, maxPerReplica bounds the list). */
        maxBytes: Type.Integer({ minimum: 0, maximum: 1 << 30, default: 64 * 1024 * 1024 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Groups older than this (by push_time_seconds) are deleted from every replica. */
    expire: Type.Array(
      Type.Object(
        { jobs: Type.String({ minLength: 1, maxLength: 256 }), maxAgeSeconds: Type.Integer({ minimum: 60, maximum: 31_536_000 }) },
        { additionalProperties: false },
      ),
      { maxItems: 1000, default: [] },
    ),
  },
  { additionalProperties: false, default: {} },
);

const LabelName = Type.String({ pattern: '^[a-zA-Z_][a-zA-Z0-9_]*$' });

export const DiscoverySchema = Type.Object(
  {
    /** Where `serve` and `sd write` write the Prometheus file_sd JSON; absent: not written. */
    file: Type.Optional(Type.String({ minLength: 1 })),
    /** Target label naming a backend's shard; pushes may not use it as a grouping label. */
    shardLabel: Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_]*$', default: 'shard' }),
    /** Target label naming a backend's replica; pushes may not use it as a grouping label. */
    replicaLabel: Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_]*$', default: 'replica' }),
    /** Static labels added to every target (for example `env: prod`). */
    labels: Type.Record(LabelName, Type.String(), { default: {} }),
  },
  { additionalProperties: false, default: {} },
);

export const ConfigSchema = Type.Object(
  {
    /** `host:port` the front door listens on. */
    listen: Type.String({ default: '127.0.0.1:9191' }),
    shards: Type.Array(ShardSchema, { minItems: 1, maxItems: 1024 }),
    write: WriteSchema,
    health: HealthSchema,
    limits: LimitsSchema,
    discovery: DiscoverySchema,
    reconcile: ReconcileSchema,
    reload: Type.Object(
      {
        /**
         * Apply ring changes live: watch the configuration, write both owners of moving groups
         * during a change, move groups between shards (docs/resizing.md). Off, a ring change
         * takes effect at the next restart and the reconciler never moves groups between shards.
         */
        liveResize: Type.Boolean({ default: true }),
        /** With liveResize: how often `serve` re-reads its configuration file (it also watches the directory). */
        intervalSeconds: Type.Integer({ minimum: 1, maximum: 3_600, default: 5 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Shared state of several front doors (rate-limit counters); absent: in memory. */
    redis: Type.Optional(RedisSchema),
    log: LogSchema,
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type ShardConfig = Static<typeof ShardSchema>;
export type AckPolicy = Config['write']['ack'];
export type LimitsConfig = Config['limits'];
export type DiscoveryConfig = Config['discovery'];
export type ReconcileConfig = Config['reconcile'];
export type RedisConfig = NonNullable<Config['redis']>;
