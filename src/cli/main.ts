/**
 * `pushring <command>`: main(argv, io) returns an exit code and never exits the process itself.
 */
import { parseArgs } from 'node:util';
import { ConfigError, formatProblems, loadConfig } from '../config/load.js';
import { writeFileAtomically } from '../discovery/file-sd.js';
import { buildTargets, formatTargets } from '../discovery/targets.js';
import { startServer } from '../server.js';

export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

const USAGE = `Usage: pushring <command> [options]

Commands:
  serve --config <file>     Run the front door.
  check-config <file>       Validate a configuration file and explain every problem.
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
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`pushring: ${err.message}\n\n${USAGE}`);
      return 2;
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
