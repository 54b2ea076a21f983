/**
 * `pushring <command>`: main(argv, io) returns an exit code and never exits the process itself.
 */
import { parseArgs } from 'node:util';
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError, formatProblems, loadConfig, readConfig } from '../config/load.js';
import { writeFileAtomically } from '../discovery/file-sd.js';
import { buildTargets, formatTargets } from '../discovery/targets.js';
import { checkBackendClients, createCluster } from '../backends/cluster.js';
import type { Config } from '../config/schema.js';
import { planMoves, sampleKeys, type MovePlan } from '../core/plan.js';
import type { MigrationAction } from '../core/migrate.js';
import { groupingKeyOf, type RepairAction } from '../core/repair.js';
import { ringOf } from '../core/ring.js';
import type { PassReport } from '../reconcile/reconciler.js';
import { createRuntime } from '../runtime.js';
import { startServer } from '../server.js';
import { frontDoorUrlOf, readRingInForce } from './ring-in-force.js';

export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

const USAGE = `Usage: pushring <command> [options]

Commands:
  serve --config <file>     Run the front door.
  check-config [--config] <file>
                            Validate a configuration file and explain every problem.
  reconcile --config <file> [--dry-run]
                            Run one pass of the reconciler: compare the replicas of every shard,
                            repair what differs, expire old groups; report what it did.
  ring plan --config <new file> [--from <old file>] [--front-door <url>] [--json]
                            Show how many groups a ring change moves, from which shard to which:
                            from what the live backends hold, or (--from) as shares of the key
                            space from ring placement alone. A shard that does not answer is
                            planned as empty when the ring in force (as the front door at
                            --front-door, by default the new file's listen address, reports it)
                            does not have it yet; otherwise its groups are unknown and no plan is
                            made.
  sd write --config <file> [--out <path>]
                            Write the Prometheus file_sd targets once (to discovery.file or --out).
  help                      Show this text.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or invalid configuration.
`;

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest, io);
      case 'check-config':
        return await checkConfig(rest, io);
      case 'sd':
        return await writeSd(rest, io);
      case 'reconcile':
        return await reconcileOnce(rest, io);
      case 'ring':
        return await planRing(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        io.stderr.write(`pushring: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'PUSHRING_CONFIG_INVALID') {
      const problem = err as ConfigError;
      io.stderr.write(`pushring: ${problem.source} is not a valid configuration:\n${formatProblems(problem.problems)}\n`);
      return 2;
    }
    const code = (err as { code?: string }).code;
    if (code?.startsWith('ERR_PARSE_ARGS') === true) {
      io.stderr.write(`pushring: ${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    // Files named in the configuration that cannot be used: the message names the file and what to do.
    if (code === 'PUSHRING_BACKEND_CLIENT' || code === 'PUSHRING_TLS_FILES_INVALID') {
      io.stderr.write(`pushring: ${(err as Error).message}\n`);
      return 1;
    }
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      io.stderr.write(`pushring: cannot listen: ${(err as Error).message}. Choose another listen address, or stop what holds it.\n`);
      return 1;
    }
    io.stderr.write(`pushring: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

async function serve(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { config: { type: 'string', short: 'c' } } });
  if (values.config === undefined) {
    io.stderr.write('pushring serve: --config <file> is required\n');
    return 2;
  }
  const { config, text } = await readConfig(values.config);
  // The targets are written at start and on every reload: a directory that cannot take them
  // would end the start in a stack trace.
  const sd = config.discovery.file;
  const unwritable =
    sd === undefined
      ? undefined
      : await access(dirname(sd), fsConstants.W_OK).then(
          () => undefined,
          (err: NodeJS.ErrnoException) => err,
        );
  if (sd !== undefined && unwritable !== undefined) {
    io.stderr.write(`pushring serve: cannot write discovery.file ${sd}: ${explainWriteError(unwritable, sd, 'change discovery.file')}\n`);
    return 1;
  }
  const server = await startServer(config, { configFile: { path: values.config, text } });
  await server.closed;
  return 0;
}

async function reconcileOnce(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { config: { type: 'string', short: 'c' }, 'dry-run': { type: 'boolean', default: false } } });
  if (values.config === undefined) {
    io.stderr.write('pushring reconcile: --config <file> is required\n');
    return 2;
  }
  const config = await loadConfig(values.config);
  const dryRun = values['dry-run'];
  // With Redis, the pass shares the front doors' state: their suspect marks and hints, the
  // reconcile lease (never two passes at once) and the ring change under way. No heartbeat: a
  // one-off pass is not a front door.
  const rt = createRuntime(config, {
    beats: false,
    leaseTtlMs: 60_000,
    warn: (m) => io.stderr.write(`${m}\n`),
    reconcileEvents: {
      shardDone: (shard, actions) => io.stdout.write(`shard ${shard}: ${actions} action(s)${dryRun ? ' planned' : ''}\n`),
      actionFailed: (action, error) => io.stderr.write(`failed: ${describeAction(action)}: ${error}\n`),
    },
  });
  try {
    if (!(await rt.redisReady())) {
      io.stderr.write(
        "pushring reconcile: Redis is not reachable: the front doors' suspect marks and hints cannot be read, so no pass runs. Retry once Redis is back.\n",
      );
      return 1;
    }
    if (!dryRun && !(await rt.lease.acquire())) {
      io.stderr.write(
        'pushring reconcile: a front door is running a pass (it holds the reconcile lease); watch pushring_reconcile_* on /metrics, or retry in a moment.\n',
      );
      return 1;
    }
    let report = await rt.reconciler.pass({ dryRun });
    if (!dryRun && report.deferred > 0) {
      // A difference is acted on when a second look finds it again (a push may have been read
      // on one replica and not yet on the other): take that second look now.
      io.stdout.write(`${report.deferred} difference(s) seen once: looking again\n`);
      if (!(await rt.lease.acquire())) {
        io.stderr.write('pushring reconcile: lost the reconcile lease before looking again; a front door carries on\n');
        return 1;
      }
      report = addReports(report, await rt.reconciler.pass());
    }
    if (dryRun) for (const action of [...report.actions, ...report.migration]) io.stdout.write(`  would ${describeAction(action)}\n`);
    io.stdout.write(
      `${dryRun ? 'dry run: ' : ''}${report.shards} shard(s), ${report.groupsSeen} group copies read, ` +
        `${dryRun ? report.actions.length + ' action(s) planned' : `${report.copied} copied, ${report.deletedAway} deleted (gone from the trusted replicas), ${report.expired} expired, ${report.failed} failed`}` +
        `${report.unreachable.length > 0 ? `; unreachable: ${report.unreachable.join(', ')}` : ''} in ${report.durationMs} ms\n`,
    );
    if (report.misplaced > 0 || report.phase !== 'none') io.stdout.write(`${describeMigration(report, rt.sharedRingChanges)}\n`);
    return report.failed > 0 || report.unreachable.length > 0 ? 1 : 0;
  } finally {
    await rt.close();
  }
}

/** Two passes as one: what both did, what the second found. */
function addReports(first: PassReport, second: PassReport): PassReport {
  const sum = (key: 'copied' | 'deletedAway' | 'expired' | 'failed' | 'moved' | 'straysDeleted'): number => first[key] + second[key];
  return {
    ...second,
    copied: sum('copied'),
    deletedAway: sum('deletedAway'),
    expired: sum('expired'),
    failed: sum('failed'),
    moved: sum('moved'),
    straysDeleted: sum('straysDeleted'),
    durationMs: first.durationMs + second.durationMs,
    actions: [...first.actions, ...second.actions],
    migration: [...first.migration, ...second.migration],
  };
}

/** The ring change as the pass saw it: what it moved, and what is left. */
function describeMigration(report: PassReport, shared: boolean): string {
  const moved = `${report.moved} copied to their new owner, ${report.straysDeleted} stray copies deleted, ${report.deferred} deferred (a difference seen once: acted on if the next pass sees it again)`;
  switch (report.phase) {
    case 'copy':
      return `ring change, copy phase: ${moved}; ${report.unsettled} moved group(s) not on their new owner yet, ${report.misplaced} on a shard that no longer owns them`;
    case 'hold':
      return `ring change, hold phase: every moved group is on its new owner; waiting for every front door to write the new owners alone (${report.misplaced} stray copies left)`;
    case 'delete':
      return `ring change, delete phase: ${moved}; ${report.misplaced} stray copies left`;
    case 'none':
      return shared
        ? `${report.misplaced} group(s) on a shard that does not own them, and no ring change under way for this configuration's ring: nothing moved`
        : `${report.misplaced} group(s) on a shard that does not own them: the front doors move them (reload.liveResize with Redis); nothing moved by this pass`;
  }
}

async function planRing(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, from: { type: 'string' }, 'front-door': { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  if (positionals[0] !== 'plan' || positionals.length !== 1 || values.config === undefined) {
    io.stderr.write('pushring ring: usage: pushring ring plan --config <new file> [--from <old file>] [--front-door <url>] [--json]\n');
    return 2;
  }
  const next = await loadConfig(values.config);
  const nextRing = ringOf(next.shards);
  let plan: MovePlan;
  let unit: string;
  let notes: readonly EmptyShard[] = [];
  if (values.from !== undefined) {
    const previous = await loadConfig(values.from);
    plan = planMoves(sampleKeys(ringOf(previous.shards), KEY_SPACE_SAMPLES), nextRing);
    unit = 'key space';
  } else {
    const read = await readPlacedGroups(next, values['front-door'] ?? frontDoorUrlOf(next.listen), io);
    if (read === undefined) return 1;
    plan = planMoves(read.placed, nextRing);
    unit = 'groups';
    notes = read.plannedEmpty;
  }
  if (values.json) {
    const plannedEmpty = notes.length === 0 ? {} : { plannedEmpty: notes.map((n) => n.shard) };
    io.stdout.write(JSON.stringify({ unit, ...plan, ...plannedEmpty }, null, 2) + '\n');
    return 0;
  }
  io.stdout.write(formatPlan(plan, unit));
  for (const note of notes)
    io.stdout.write(`shard ${note.shard}: not reachable yet, planned as empty (the ring in force, as ${note.source} reports it, does not have it)\n`);
  return 0;
}

/** A shard no replica of which answered, which the ring in force does not have: it holds nothing yet. */
interface EmptyShard {
  readonly shard: string;
  /** Who said the ring in force lacks it. */
  readonly source: string;
}

/** Samples of the key space for a plan from ring placement alone: ±0.5% on each share. */
const KEY_SPACE_SAMPLES = 100_000;

/**
 * Every group the shards of `config` hold, read from the first replica of each that answers. A
 * shard none of whose replicas answers is planned as empty when the ring in force (asked of the
 * front door at `frontDoor`) does not have it: the runbook plans before the new shard's
 * Pushgateways are started. A shard of the ring in force that does not answer holds groups
 * nobody can count: no plan.
 */
async function readPlacedGroups(
  config: Readonly<Config>,
  frontDoor: string,
  io: CliIo,
): Promise<{ placed: Array<[string, string]>; plannedEmpty: EmptyShard[] } | undefined> {
  const cluster = createCluster(config);
  const placed: Array<[string, string]> = [];
  const silent: string[] = [];
  try {
    for (const shard of cluster.shards.values()) {
      let read = false;
      for (const backend of shard.backends) {
        const groups = await backend.groups().catch(() => undefined);
        if (groups === undefined) continue;
        for (const group of groups) placed.push([shard.name, groupingKeyOf(group).canonical]);
        read = true;
        break;
      }
      if (!read) silent.push(shard.name);
    }
  } finally {
    await cluster.close();
  }
  if (silent.length === 0) return { placed, plannedEmpty: [] };
  const inForce = await readRingInForce(frontDoor, 2_000);
  const unknown = inForce.ok ? silent.filter((name) => inForce.shards.has(name)) : silent;
  for (const name of unknown) {
    const why = inForce.ok
      ? `It is in the ring in force (as ${inForce.url} reports it), so its groups are unknown: start its replicas, or wait until one answers`
      : `It may be a new shard (not started yet: planned as empty) or a shard of the ring in force that is down, and no front door says which (${inForce.url}: ${inForce.reason}); give --front-door <url> of a running front door`;
    io.stderr.write(`pushring ring plan: no replica of shard ${name} answered; use --from <old file> to plan from placement alone. ${why}\n`);
  }
  if (unknown.length > 0) return undefined;
  return { placed, plannedEmpty: silent.map((shard) => ({ shard, source: inForce.url })) };
}

function formatPlan(plan: MovePlan, unit: string): string {
  const moved = plan.total - plan.staying;
  const pct = (n: number): string => `${((100 * n) / Math.max(plan.total, 1)).toFixed(1)}%`;
  const lines = [
    unit === 'groups'
      ? `${plan.total} groups: ${plan.staying} stay, ${moved} move (${pct(moved)})`
      : `share of the key space that moves: ${pct(moved)} (from ring placement, ${plan.total} samples)`,
  ];
  if (plan.moves.length > 0) {
    lines.push('', `${'from'.padEnd(16)} ${'to'.padEnd(16)} ${(unit === 'groups' ? 'groups' : 'samples').padStart(8)}  share`);
    for (const m of plan.moves) lines.push(`${m.from.padEnd(16)} ${m.to.padEnd(16)} ${String(m.count).padStart(8)}  ${pct(m.count)}`);
  }
  return lines.join('\n') + '\n';
}

function describeAction(action: RepairAction | MigrationAction): string {
  const reason = 'reason' in action ? action.reason : 'moved by the ring';
  return action.kind === 'copy'
    ? `copy ${action.canonical} from ${action.from} to ${action.to} (${reason})`
    : `delete ${action.canonical} on ${action.on} (${reason})`;
}

async function writeSd(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, out: { type: 'string', short: 'o' } },
  });
  if (positionals[0] !== 'write' || positionals.length !== 1 || values.config === undefined) {
    io.stderr.write('pushring sd: usage: pushring sd write --config <file> [--out <path>]\n');
    return 2;
  }
  const config = await loadConfig(values.config);
  const out = values.out ?? config.discovery.file;
  if (out === undefined) {
    io.stderr.write(`pushring sd write: ${values.config} sets no discovery.file; give --out <path>\n`);
    return 2;
  }
  const targets = buildTargets(config);
  let changed: boolean;
  try {
    changed = await writeFileAtomically(out, formatTargets(targets));
  } catch (err) {
    io.stderr.write(`pushring sd write: cannot write ${out}: ${explainWriteError(err as NodeJS.ErrnoException, out, 'give another --out')}\n`);
    return 1;
  }
  io.stdout.write(`${out}: ${changed ? 'wrote' : 'unchanged,'} ${targets.length} target(s) in ${config.shards.length} shard(s)\n`);
  return 0;
}

/** What to do about a file that cannot be written, in one line; `instead`: the other way out. */
function explainWriteError(err: NodeJS.ErrnoException, file: string, instead: string): string {
  const dir = dirname(file);
  switch (err.code) {
    case 'ENOENT':
      return `the directory ${dir} does not exist; create it (mkdir -p ${dir}) or ${instead}`;
    case 'ENOTDIR':
      return `${dir} is not a directory; ${instead}`;
    case 'EACCES':
    case 'EPERM':
      return `no permission to write in ${dir} (${err.code}); run as a user who may, or ${instead}`;
    case 'EROFS':
      return `${dir} is on a read-only file system; ${instead}`;
    case 'EISDIR':
      return `${file} is a directory; give a file name, for example ${file.replace(/\/+$/, '')}/pushring-targets.json`;
    default:
      return `${err.message}; check the path, or ${instead}`;
  }
}

async function checkConfig(args: readonly string[], io: CliIo): Promise<number> {
  // `--config <file>` as every other command takes it, or the file alone.
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: { config: { type: 'string', short: 'c' } } });
  const files = [...(values.config === undefined ? [] : [values.config]), ...positionals];
  const file = files[0];
  if (file === undefined || files.length > 1) {
    io.stderr.write('pushring check-config: give exactly one file: pushring check-config [--config] <file>\n');
    return 2;
  }
  const config = await loadConfig(file);
  // The CA, certificate and key files a replica's client settings name are read at start: a file
  // that cannot be read would stop serve, so it is a problem of the configuration here.
  const unreadable = checkBackendClients(config);
  if (unreadable.length > 0) {
    io.stderr.write(`pushring: ${file} is not a valid configuration:\n${unreadable.map((m) => `  - ${m}`).join('\n')}\n`);
    return 2;
  }
  const replicas = config.shards.reduce((n, s) => n + s.replicas.length, 0);
  io.stdout.write(
    `${file}: valid: ${config.shards.length} shard(s), ${replicas} replica(s), ack policy "${config.write.ack}", listening on ${config.listen}\n`,
  );
  return 0;
}
