/**
 * Regenerates src/core/pushgateway-own.ts from a real Pushgateway: the families it exposes itself
 * (its DefaultGatherer: go_*, process_*, pushgateway_*), their types and help, and which of them
 * exist when its store is built (NewDiskMetricStore gathers predefinedHelp from them right then).
 *
 *   npx tsx scripts/pushgateway-own-metrics.ts           rewrite src/core/pushgateway-own.ts
 *   npx tsx scripts/pushgateway-own-metrics.ts --check   exit 1 if the committed table is out of date
 *
 * test/behaviour/pushgateway-own.test.ts fails when the binary and the committed table differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { MetricType } from '../src/core/push-body.js';
import { freePort, removeTempDir, requireBinary, spawnProcess, tempDir, waitFor } from '../test/helpers/processes.js';

export const TABLE_PATH = fileURLToPath(new URL('../src/core/pushgateway-own.ts', import.meta.url));

export interface ObservedFamily {
  readonly type: MetricType;
  readonly help: string;
  readonly presentAtStart: boolean;
}

/** The `# HELP` and `# TYPE` lines of a text exposition, by family name. */
export function readFamilyHeaders(exposition: string): Map<string, { type: MetricType; help: string }> {
  const help = new Map<string, string>();
  const types = new Map<string, MetricType>();
  for (const line of exposition.split('\n')) {
    const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (match === null) continue;
    const [, kind, name, rest] = match as unknown as [string, string, string, string];
    if (kind === 'HELP')
      help.set(
        name,
        rest.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)),
      );
    else types.set(name, rest.toUpperCase() as MetricType);
  }
  const out = new Map<string, { type: MetricType; help: string }>();
  for (const [name, type] of types) out.set(name, { type, help: help.get(name) ?? '' });
  return out;
}

async function fetchText(url: string, init?: RequestInit): Promise<string> {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok && res.status !== 202) throw new Error(`${init?.method ?? 'GET'} ${url} answered ${res.status}: ${text}`);
  return text;
}

/**
 * Starts a Pushgateway of its own (not through the test helper: that one waits on /-/ready, an
 * instrumented handler, which would create a family before the first look), reads /metrics —
 * not instrumented — before any other request, then once every instrumented handler has run.
 */
export async function observeOwnFamilies(): Promise<Map<string, ObservedFamily>> {
  const bin = requireBinary('prometheus-pushgateway');
  const dir = await tempDir('pushring-pgw-own-');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawnProcess(bin, [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file=', '--log.level=warn'], { logFile: join(dir, 'pgw.log') });
  try {
    const atStart = await waitFor(
      async (signal) => {
        const res = await fetch(`${url}/metrics`, { signal });
        return res.status === 200 ? readFamilyHeaders(await res.text()) : undefined;
      },
      { what: `pushgateway /metrics on ${url}` },
    );
    for (const method of ['PUT', 'POST']) await fetchText(`${url}/metrics/job/pushring_own_probe`, { method, body: 'probe 1\n' });
    await fetchText(`${url}/metrics/job/pushring_own_probe`, { method: 'DELETE' });
    for (const path of ['/-/healthy', '/-/ready', '/api/v1/metrics', '/api/v1/status']) await fetchText(url + path);
    const all = readFamilyHeaders(await fetchText(`${url}/metrics`));
    const out = new Map<string, ObservedFamily>();
    for (const name of [...all.keys()].sort()) {
      if (name === 'probe' || name === 'push_time_seconds' || name === 'push_failure_time_seconds') continue;
      const family = all.get(name)!;
      out.set(name, { ...family, presentAtStart: atStart.has(name) });
    }
    return out;
  } finally {
    proc.kill('SIGKILL');
    await proc.exited;
    await removeTempDir(dir);
  }
}

export function renderTable(families: ReadonlyMap<string, ObservedFamily>, version: string): string {
  let rows = '';
  for (const [name, f] of families)
    rows += `  [${JSON.stringify(name)}, { type: '${f.type}', help: ${JSON.stringify(f.help)}, presentAtStart: ${f.presentAtStart} }],\n`;
  return `/**
 * The families a Pushgateway exposes itself (its DefaultGatherer), which take part in the check of
 * every push: a pushed family of one of these names must have its type, its suffixed names collide
 * with theirs, and its help must match unless the name was present when the store was built
 * (predefinedHelp in storage/diskmetricstore.go: then the Pushgateway substitutes its own help).
 *
 * GENERATED from ${version} by scripts/pushgateway-own-metrics.ts; do not edit.
 * test/behaviour/pushgateway-own.test.ts keeps it equal to what the binary exposes.
 */
import type { MetricType } from './push-body.js';

export interface OwnFamily {
  readonly type: MetricType;
  readonly help: string;
  /** Exposed before the first request, hence in predefinedHelp: a pushed family's help is replaced, never compared. */
  readonly presentAtStart: boolean;
}

export const PUSHGATEWAY_OWN_FAMILIES: ReadonlyMap<string, OwnFamily> = new Map<string, OwnFamily>([
${rows}]);
`;
}

async function readVersion(): Promise<string> {
  const { execFileSync } = await import('node:child_process');
  // kingpin prints the version to stderr.
  const out = execFileSync('sh', ['-c', `"${requireBinary('prometheus-pushgateway')}" --version 2>&1`], { encoding: 'utf8' });
  return (out.split('\n')[0] ?? 'prometheus-pushgateway').trim();
}

/** The table as committed: rendered, then formatted by the project's Prettier settings. */
export async function generateTable(): Promise<string> {
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(TABLE_PATH)) ?? {};
  return prettier.format(renderTable(await observeOwnFamilies(), await readVersion()), { ...options, filepath: TABLE_PATH });
}

async function main(argv: readonly string[]): Promise<number> {
  const rendered = await generateTable();
  if (argv.includes('--check')) {
    const same = readFileSync(TABLE_PATH, 'utf8') === rendered;
    process.stderr.write(
      same ? 'src/core/pushgateway-own.ts is up to date\n' : 'src/core/pushgateway-own.ts is out of date: run npx tsx scripts/pushgateway-own-metrics.ts\n',
    );
    return same ? 0 : 1;
  }
  writeFileSync(TABLE_PATH, rendered);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
