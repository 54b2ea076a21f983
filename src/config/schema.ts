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

export const ConfigSchema = Type.Object(
  {
    /** `host:port` the front door listens on. */
    listen: Type.String({ default: '127.0.0.1:9191' }),
    shards: Type.Array(ShardSchema, { minItems: 1, maxItems: 1024 }),
    write: WriteSchema,
    health: HealthSchema,
    log: LogSchema,
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type ShardConfig = Static<typeof ShardSchema>;
export type AckPolicy = Config['write']['ack'];
