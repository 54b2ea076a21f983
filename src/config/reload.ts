/**
 * Applying a reloaded configuration file to a running front door. Only the ring, discovery and
 * the credential list (`auth`) change live; a ring change is recorded before it is applied
 * (other front doors and restarts follow it) and applied only if it cannot lose a group
 * (docs/resizing.md); other settings wait for a restart.
 *
 * The credential list is applied first and on its own: a revoked token must not stay valid
 * because a ring change has to wait, is refused, or is not applied live at all.
 */
import type { Backend } from '../backends/client.js';
import { checkBackendClients, ringVersion, type Cluster } from '../backends/cluster.js';
import { routingAfterBegin, undrainedRemovals } from '../core/ring-change.js';
import { writeFileAtomically } from '../discovery/file-sd.js';
import type { Transition } from '../reconcile/transition.js';
import type { AuthConfig, Config } from './schema.js';
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
  /** Puts the ring and discovery of a reloaded configuration in force (the credential list is useAuth's). */
  useConfig(next: Readonly<Config>): void;
  /**
   * Puts a reloaded credential list in force; settles once requests are judged by it (its
   * secrets read). Rejects when it cannot be: the list in force stays and it is tried again.
   */
  useAuth(next: Readonly<AuthConfig>): void | Promise<void>;
  reconcileSoon(): void;
  /** With judge.mode front-door: reads the replicas of shards that joined the ring into the index. */
  readonly judge?: { build(only: readonly Backend[]): Promise<void> } | undefined;
}

/**
 * Watches `file` (read as `text` at start) and applies each valid change; a change that must
 * wait is offered again at the next check. Also with reload.liveResize off: the credential list
 * still follows the file (a revoked token must not wait for a restart), the ring does not.
 */
export function watchAndReload(file: { readonly path: string; readonly text: string }, target: ReloadTarget): ConfigWatcher {
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

/**
 * Applies a reloaded configuration: the credential list first, then the ring. False when a part
 * must wait (the file is offered again later; the part already in force is not applied twice).
 */
export async function applyConfig(target: ReloadTarget, next: Readonly<Config>): Promise<boolean> {
  const authApplied = await applyAuth(target, next);
  const ringApplied = target.config.reload.liveResize ? await applyRing(target, next) : holdRing(target, next, authApplied);
  return authApplied && ringApplied;
}

/** Puts the credential list of `next` in force when it differs from the one in force; false when it cannot be now. */
async function applyAuth(target: ReloadTarget, next: Readonly<Config>): Promise<boolean> {
  const { logger } = target;
  const current = target.config;
  if (JSON.stringify(current.auth) === JSON.stringify(next.auth)) return true;
  const waiting = certificatesWaitingForTls(current, next);
  if (waiting.length > 0) {
    logger.warn(
      { credentials: waiting, settings: ['tls'] },
      'these certificate credentials need the new tls settings, which change only at the next restart: until then client certificates are verified as before (without a client CA, these credentials match nothing)',
    );
  }
  try {
    await target.useAuth(next.auth);
  } catch (err) {
    // Names where secrets come from at most (secrets.ts), never a value.
    logger.error(
      { err: (err as Error).message },
      'the reloaded credential list cannot be put in force: the previous one keeps judging; tried again at the next check',
    );
    return false;
  }
  logger.info({ credentials: next.auth.credentials.map((c) => c.name) }, 'reloaded credential list in force');
  return true;
}

/** With reload.liveResize off only the credential list follows the file: says what waits for a restart. */
function holdRing(target: ReloadTarget, next: Readonly<Config>, authApplied: boolean): boolean {
  const current = target.config;
  const live = (['shards', 'discovery'] as const).filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]));
  const waiting = [...live, ...restartOnlyChanges(current, next)];
  if (waiting.length > 0) {
    target.logger.warn(
      { settings: waiting },
      'reload.liveResize is false: only the credential list (auth) changes live; these settings change at the next restart',
    );
  }
  target.metrics.reloaded(authApplied ? 'applied' : 'refused');
  return true;
}

/** The ring part of a reload (unchanged by the credential list's being applied first). */
async function applyRing(target: ReloadTarget, next: Readonly<Config>): Promise<boolean> {
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

/**
 * Certificate credentials that a reload adds or changes together with the `tls` section: the
 * client CA is read only at start, so they may match nothing until a restart. Their names.
 */
export function certificatesWaitingForTls(current: Readonly<Config>, next: Readonly<Config>): string[] {
  if (JSON.stringify(current.tls) === JSON.stringify(next.tls)) return [];
  const before = new Set(current.auth.credentials.filter((c) => c.certificate !== undefined).map((c) => JSON.stringify(c)));
  return next.auth.credentials.filter((c) => c.certificate !== undefined && !before.has(JSON.stringify(c))).map((c) => c.name);
}

/** What a reload puts in force; every other section waits for a restart. */
const LIVE_SETTINGS = new Set<keyof Config>(['shards', 'discovery', 'auth']);

/** Settings that a reload does not change (only the ring, discovery and the credential list do). */
export function restartOnlyChanges(current: Readonly<Config>, next: Readonly<Config>): string[] {
  // Both sides' keys: a section removed from the file is a change too.
  const keys = [...new Set([...Object.keys(current), ...Object.keys(next)])] as Array<keyof Config>;
  return keys.filter((k) => !LIVE_SETTINGS.has(k) && JSON.stringify(current[k]) !== JSON.stringify(next[k]));
}
