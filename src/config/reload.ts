/**
 * Applying a reloaded configuration file to a running front door. Only the ring, discovery and
 * the credential list (`auth`) change live; a ring change is recorded before it is applied
 * (other front doors and restarts follow it) and applied only if it cannot lose a group
 * (docs/resizing.md); other settings wait for a restart.
 */
import type { Backend } from '../backends/client.js';
import { checkBackendClients, ringVersion, type Cluster } from '../backends/cluster.js';
import { routingAfterBegin, undrainedRemovals } from '../core/ring-change.js';
import { writeFileAtomically } from '../discovery/file-sd.js';
import type { Transition } from '../reconcile/transition.js';
import type { Config } from './schema.js';
import { watchConfig, type ConfigWatcher } from './watch.js';

export interface ReloadLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** What a reload changes and reports to: the part of the runtime (runtime.ts) it needs. */
export interface ReloadTarget {
  /** The configuration in force. */
  readonly config: Readonly<Config>;
  /** The file_sd content of the configuration in force. */
  readonly targets: string;
  readonly cluster: Cluster;
  readonly transition: Transition;
  readonly logger: ReloadLog;
  readonly metrics: { reloaded(result: 'applied' | 'refused' | 'invalid'): void };
  useConfig(next: Readonly<Config>): void;
  reconcileSoon(): void;
  /** With judge.mode front-door: reads the replicas of shards that joined the ring into the index. */
  readonly judge?: { build(only: readonly Backend[]): Promise<void> } | undefined;
}

/**
 * Watches `file` (read as `text` at start) and applies each valid change; a change that must
 * wait is offered again at the next check. Undefined with reload.liveResize off: the file is
 * read again only at a restart.
 */
export function watchAndReload(file: { readonly path: string; readonly text: string }, target: ReloadTarget): ConfigWatcher | undefined {
  if (!target.config.reload.liveResize) return undefined;
  const { logger, metrics } = target;
  // From the text the configuration was read from: an edit since then is a change.
  return watchConfig(file.path, file.text, target.config.reload.intervalSeconds * 1000, {
    changed: (next) =>
      applyConfig(target, next).catch((err: Error) => {
        logger.error({ err: err.message }, 'reload failed; the ring in force keeps serving');
        return false;
      }),
    invalid: (problems) => {
      metrics.reloaded('invalid');
      logger.error({ problems }, 'the configuration file is not valid; the last good configuration keeps serving');
    },
  });
}

/** Applies a reloaded configuration; false when it must wait (it is offered again later). */
export async function applyConfig(target: ReloadTarget, next: Readonly<Config>): Promise<boolean> {
  const { cluster, transition, logger, metrics } = target;
  const current = target.config;
  // Replica files that cannot be used would fail the ring's application after a change was
  // recorded for other front doors to follow: such a file is invalid, and nothing is begun.
  const unusable = checkBackendClients(next);
  if (unusable.length > 0) {
    metrics.reloaded('invalid');
    logger.error({ problems: unusable }, 'the configuration names replica files that cannot be used; the last good configuration keeps serving');
    return false;
  }
  const changedRing = ringVersion(next.shards) !== cluster.version;
  const removal = await refuseRemoval(current, next, cluster);
  const begun = removal === undefined && changedRing ? await transition.begin(current, next) : undefined;
  const refusal = removal ?? (begun !== undefined && 'refused' in begun ? begun.refused : undefined);
  if (refusal !== undefined) {
    metrics.reloaded('refused');
    logger.error({ reason: refusal }, 'configuration change refused for now; the ring in force keeps serving');
    return false;
  }
  const needsRestart = restartOnlyChanges(current, next);
  if (needsRestart.length > 0) logger.warn({ settings: needsRestart }, 'these settings change only at the next restart');
  cluster.applyRing(next);
  // Caught up: nothing moves. Otherwise the change goes from the ring in force (this front door
  // may have served an older one). In force with the ring, before anything is awaited; then a
  // step of the state machine over the record just made confirms it (a failed one: the next).
  if (begun !== undefined) {
    const routing = routingAfterBegin(begun, new Set(next.shards.map((s) => s.name)));
    if (routing !== undefined) cluster.follow(routing);
    await transition.beat().catch(() => undefined);
  }
  target.useConfig(next);
  const { discovery } = target.config;
  if (discovery.file !== undefined) await writeFileAtomically(discovery.file, target.targets);
  metrics.reloaded('applied');
  logger.info(
    { version: cluster.version, phase: cluster.phase, shards: cluster.ring.shards },
    changedRing ? 'ring change applied: moving groups' : 'configuration reloaded',
  );
  target.reconcileSoon();
  // The index covers the whole ring: only shards new to it can hold groups it has not seen.
  const joined = next.shards.filter((s) => !current.shards.some((c) => c.name === s.name)).flatMap((s) => cluster.shards.get(s.name)?.backends ?? []);
  if (joined.length > 0) void target.judge?.build(joined).catch(() => undefined);
  return true;
}

/**
 * Removing a shard loses its groups unless it was drained first and is empty now. Returns why a
 * change must wait, or undefined.
 */
export async function refuseRemoval(current: Readonly<Config>, next: Readonly<Config>, cluster: Pick<Cluster, 'shards'>): Promise<string | undefined> {
  const kept = new Set(next.shards.map((s) => s.name));
  const [undrained] = undrainedRemovals(current.shards, kept);
  if (undrained !== undefined) return `shard ${undrained} was removed without draining it: set draining: true first, wait until it is empty, then remove it`;
  for (const shard of current.shards) {
    if (kept.has(shard.name)) continue;
    for (const backend of cluster.shards.get(shard.name)?.backends ?? []) {
      const groups = (await backend.groups().catch(() => undefined))?.length;
      if (groups === undefined) return `shard ${shard.name} cannot be checked empty (${backend.url} does not answer); keep it until it can`;
      if (groups > 0) return `shard ${shard.name} still holds ${groups} group(s) on ${backend.url}: wait until draining has moved them`;
    }
  }
  return undefined;
}

/** What a reload puts in force; every other section waits for a restart. */
const LIVE_SETTINGS = new Set<keyof Config>(['shards', 'discovery', 'auth']);

/** Settings that a reload does not change (only the ring, discovery and the credential list do). */
export function restartOnlyChanges(current: Readonly<Config>, next: Readonly<Config>): string[] {
  // Both sides' keys: a section removed from the file is a change too.
  const keys = [...new Set([...Object.keys(current), ...Object.keys(next)])] as Array<keyof Config>;
  return keys.filter((k) => !LIVE_SETTINGS.has(k) && JSON.stringify(current[k]) !== JSON.stringify(next[k]));
}
