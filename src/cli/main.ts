/**
 * `pushring <command>`: main(argv, io) returns an exit code and never exits the process itself.
 */
import { parseArgs } from 'node:util';
import { ConfigError, formatProblems, loadConfig } from '../config/load.js';
import { writeFileAtomically } from '../discovery/file-sd.js';
import { buildTargets, formatTargets } from '../discovery/targets.js';
import { createCluster } from '../backends/cluster.js';
import type { RepairAction } from '../core/repair.js';
import { createReconciler } from '../reconcile/reconciler.js';
import { createSuspectStore } from '../reconcile/suspects.js';
import { startServer } from '../server.js';

export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

const USAGE = `Usage: pushring <command> [options]

Commands:
  serve --config <file>     Run the front door.
  check-config <file>       Validate a configuration file and explain every problem.
  reconcile --config <file> [--dry-run]
                            Run one pass of the reconciler: compare the replicas of every shard,
                            repair what differs, expire old groups; report what it did.
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
  const config = await loadConfig(values.config);
  const server = await startServer(config);
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
  const cluster = createCluster(config);
  try {
    const dryRun = values['dry-run'];
    const reconciler = createReconciler(cluster, config.reconcile, createSuspectStore(), {
      shardDone: (shard, actions) => io.stdout.write(`shard ${shard}: ${actions} action(s)${dryRun ? ' planned' : ''}\n`),
      actionFailed: (action, error) => io.stderr.write(`failed: ${describeAction(action)}: ${error}\n`),
    });
    const report = await reconciler.pass({ dryRun });
    if (dryRun) for (const action of report.actions) io.stdout.write(`  would ${describeAction(action)}\n`);
    io.stdout.write(
      `${dryRun ? 'dry run: ' : ''}${report.shards} shard(s), ${report.groupsSeen} group copies read, ` +
        `${dryRun ? report.actions.length + ' action(s) planned' : `${report.copied} copied, ${report.deletedAway} deleted (gone from the trusted replicas), ${report.expired} expired, ${report.failed} failed`}` +
        `${report.unreachable.length > 0 ? `; unreachable: ${report.unreachable.join(', ')}` : ''} in ${report.durationMs} ms\n`,
    );
    return report.failed > 0 || report.unreachable.length > 0 ? 1 : 0;
  } finally {
    await cluster.close();
  }
}

function describeAction(action: RepairAction): string {
  return action.kind === 'copy'
    ? `copy ${action.canonical} from ${action.from} to ${action.to} (${action.reason})`
    : `delete ${action.canonical} on ${action.on} (${action.reason})`;
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
  const changed = await writeFileAtomically(out, formatTargets(targets));
  io.stdout.write(`${out}: ${changed ? 'wrote' : 'unchanged,'} ${targets.length} target(s) in ${config.shards.length} shard(s)\n`);
  return 0;
}

async function checkConfig(args: readonly string[], io: CliIo): Promise<number> {
  const { positionals } = parseArgs({ args: [...args], allowPositionals: true, options: {} });
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) {
    io.stderr.write('pushring check-config: give exactly one file\n');
    return 2;
  }
  const config = await loadConfig(file);
  const replicas = config.shards.reduce((n, s) => n + s.replicas.length, 0);
  io.stdout.write(
    `${file}: valid: ${config.shards.length} shard(s), ${replicas} replica(s), ack policy "${config.write.ack}", listening on ${config.listen}\n`,
  );
  return 0;
}
