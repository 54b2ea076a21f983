/**
 * `npm run bench` (`--scenario push`, the default), in two sections:
 *
 * - pushes/s and latency of (a) one Pushgateway holding N groups (--groups), (b) pushring over 2
 *   shards x 2 replicas and (c) over 4 x 2 holding the same N groups, with default Pushgateway
 *   flags and with --push.disable-consistency-check; ratios against (a). Every setup is started
 *   fresh on free loopback ports, filled with N groups through its API, then driven by wrk (PUTs
 *   spread over the N groups) for a fixed time. With checked backends the front door leaves
 *   judging to them (`judge.mode: backends`); with fast backends it judges (the default). With
 *   fast backends, pushring 2x2 also runs with a per-job limit that is never reached, counted
 *   in memory and in a real redis-server, and 4x2 with a fifth shard at rest and while it grows.
 * - judging (judging.ts): issue 12's rows at 2,000 and 20,000 groups (--judge-groups), seeded
 *   instead of filled: one checked Pushgateway, pushring over checked backends, pushring judging
 *   over unchecked backends, and the same without judging.
 *
 * The front door's CPU time per push is read from /proc; after each run every backend's scrape
 * (GET /metrics) is tried. Nothing here asserts timings: it prints them.
 *
 * `--scenario reconcile`: the reconciler's cost. 4 x 2 fast backends (and a fifth shard,
 * draining) are seeded directly with N groups (20,000 and 100,000 unless --groups says); a front
 * door reconciles them: the time of each pass and the front door's peak RSS, first with the
 * replicas in sync, then while the fifth shard takes its share (a live 4 -> 5 ring change).
 *
 * `--scenario read`: reading 100,000 groups (or --groups) through the front door (reads.ts).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ringOf } from '../src/core/ring.js';
import { requireBinary, waitFor, removeTempDirs } from '../test/helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../test/helpers/pushgateway.js';
import { startRedis } from '../test/helpers/redis.js';
import { benchJudging, formatJudgingSummary } from './judging.js';
import { benchReads } from './reads.js';
import { fill, measureRun, seed, startFrontDoor, waitForGroups, type FrontDoor, type WrkOptions } from './load.js';
import { failedRow, formatRow, formatTable, selectorOf, type Row } from './rows.js';

interface Options extends WrkOptions {
  judgeGroups: number[];
  only: string | undefined;
}

const SCENARIOS = ['push', 'reconcile', 'read'] as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'push' },
      groups: { type: 'string' },
      'judge-groups': { type: 'string' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '16' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
    },
  });
  const scenario = values.scenario as (typeof SCENARIOS)[number];
  if (!SCENARIOS.includes(scenario)) throw new Error(`--scenario: one of ${SCENARIOS.join(', ')}`);
  if (scenario === 'read') {
    await benchReads(values.groups === undefined ? [values.quick ? 2_000 : 100_000] : values.groups.split(',').map(Number));
    return;
  }
  if (scenario === 'reconcile') {
    const sizes = values.groups === undefined ? (values.quick ? [2_000] : [20_000, 100_000]) : values.groups.split(',').map(Number);
    await benchReconciler(sizes);
    return;
  }
  const options: Options = {
    groups: values.quick ? 200 : Number(values.groups ?? 2000),
    judgeGroups: (values['judge-groups'] ?? (values.quick ? '200' : '2000,20000')).split(',').map(Number),
    durationS: values.quick ? 3 : Number(values.duration),
    connections: Number(values.connections),
    only: values.only,
  };
  const wrk = requireBinary('wrk');
  requireBinary('prometheus-pushgateway');
  requireBinary('redis-server');
  console.log(
    `pushring bench: ${options.groups} groups, then judging at ${options.judgeGroups.join(' and ')} groups; ` +
      `wrk ${options.connections} connections x ${options.durationS}s per setup\n`,
  );
  const rows = await benchPushes(options, wrk);
  const judging = await benchJudging({ ...options, sizes: options.judgeGroups }, wrk);
  console.log('\n' + formatTable([...rows, ...judging]));
  const unlimited = rows.find((r) => r.setup === 'pushring 2x2' && r.flags === 'no-consistency-check' && r.failure === undefined);
  for (const limited of rows.filter((r) => r.setup.includes('limits:') && r.failure === undefined)) {
    if (unlimited !== undefined) {
      console.log(`${limited.setup} (limit never reached) vs no limits: ${(limited.pushesPerS / unlimited.pushesPerS).toFixed(2)}x pushes/s`);
    }
  }
  const atRest = rows.find((r) => r.setup === 'pushring 4x2+1 at rest' && r.failure === undefined);
  const migrating = rows.find((r) => r.setup === 'pushring 4x2+1 migrating' && r.failure === undefined);
  if (atRest !== undefined && migrating !== undefined) {
    console.log(`pushes/s while growing 4 -> 5 shards vs at rest: ${(migrating.pushesPerS / atRest.pushesPerS).toFixed(2)}x`);
  }
  for (const line of formatJudgingSummary(judging)) console.log(line);
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/last.json', JSON.stringify({ options, rows: [...rows, ...judging] }, null, 2));
}

/** The push section: every setup at --groups, filled through its API. */
async function benchPushes(options: Options, wrk: string): Promise<Row[]> {
  const rows: Row[] = [];
  const redis = await startRedis();
  try {
    for (const [flags, args] of [
      ['default', []],
      ['no-consistency-check', ['--push.disable-consistency-check']],
    ] as const) {
      // Limits rows only where the front door is the bottleneck: there they show its own cost.
      const setups = ['direct 1 Pushgateway', 'pushring 2x2', 'pushring 4x2'];
      if (flags === 'no-consistency-check') {
        setups.push('pushring 2x2 limits:memory', 'pushring 2x2 limits:redis', 'pushring 4x2+1 at rest', 'pushring 4x2+1 migrating');
      }
      for (const setup of setups) {
        const head = { section: 'push', label: '', setup, flags, groups: options.groups } as const;
        if (options.only !== undefined && !selectorOf(head).includes(options.only)) continue;
        let row: Row;
        try {
          row = { ...head, ...(await measure(setup, flags, [...args], options, wrk, redis.url)), vsDirect: undefined, failure: undefined };
        } catch (err) {
          row = failedRow(head, err);
        }
        rows.push(row);
        const direct = rows.find((r) => r.flags === flags && r.setup.startsWith('direct') && r.failure === undefined);
        if (direct !== undefined && row.failure === undefined) row.vsDirect = row.pushesPerS / direct.pushesPerS;
        console.log(formatRow(row));
      }
    }
  } finally {
    await redis.close();
  }
  return rows;
}

type Measured = Pick<Row, 'pushesPerS' | 'p50Ms' | 'p99Ms' | 'errors' | 'cpuUsPerPush' | 'goodScrapes' | 'backends'>;

async function measure(setup: string, flags: string, pgArgs: string[], options: Options, wrk: string, redisUrl: string): Promise<Measured> {
  // `4x2+1`: a fifth shard that drains (owns nothing); `migrating`: it starts owning its share
  // just before wrk starts, so the run measures pushes while groups move onto it.
  const shards = setup.startsWith('direct') ? 0 : setup.includes('2x2') ? 2 : setup.includes('+1') ? 5 : 4;
  const backends: Pushgateway[] = [];
  let frontDoor: FrontDoor | undefined;
  try {
    for (let i = 0; i < Math.max(1, shards * 2); i++) backends.push(await startPushgateway({ args: pgArgs }));
    let target = backends[0]!.url;
    const configFor = (fifthDraining: boolean): string[] => [
      'log: { level: warn }',
      // Checked backends judge for themselves: judging in the front door as well would only add its cost.
      ...(flags === 'default' ? ['judge: { mode: backends }'] : []),
      // A limit far above what the run can push: the cost of counting, never a refusal.
      ...(setup.includes('limits:') ? ['limits: { default: { pushes: 1000000000, windowSeconds: 3600 } }'] : []),
      ...(setup.includes('limits:redis') ? [`redis: { url: "${redisUrl}", keyPrefix: "bench-${Date.now()}:" }`] : []),
      'reconcile: { intervalSeconds: 1, concurrency: 8 }',
      'reload: { liveResize: true, intervalSeconds: 1 }',
      'shards:',
      ...Array.from(
        { length: shards },
        (_, s) => `  - { name: s${s}, draining: ${s === 4 && fifthDraining}, replicas: ["${backends[2 * s]!.url}", "${backends[2 * s + 1]!.url}"] }`,
      ),
    ];
    if (shards > 0) {
      frontDoor = await startFrontDoor(configFor(true));
      target = frontDoor.url;
    }
    await fill(target, options.groups);
    if (setup.includes('migrating') && frontDoor !== undefined) {
      await frontDoor.reconfigure(configFor(false));
      await waitFor(async () => ((await (await fetch(`${target}/-/status`)).json()) as { phase: string }).phase === 'dual', {
        what: 'the front door to start moving groups',
        timeoutMs: 10_000,
      });
    }
    return await measureRun(wrk, target, options, frontDoor, backends);
  } finally {
    await frontDoor?.stop();
    await Promise.all(backends.map((b) => b.close()));
  }
}

interface PassRow {
  groups: number;
  stage: string;
  passes: number;
  /** Each pass's duration, in order. */
  passMs: number[];
  /** Groups copied onto the fifth shard during the stage. */
  moved: number;
  /** The front door's VmRSS once ready, before its first pass. */
  idleRssMb: number;
  /** Its VmHWM over the stage (reset at the stage's start where the kernel allows it). */
  peakRssMb: number;
}

/** The reconciler over 4 x 2 fast backends holding each of `sizes` groups in turn. */
async function benchReconciler(sizes: readonly number[]): Promise<void> {
  requireBinary('prometheus-pushgateway');
  console.log('pushring bench, reconciler: 4 x 2 fast backends (a fifth shard draining, then growing), seeded directly\n');
  const rows: PassRow[] = [];
  for (const groups of sizes) {
    for (const row of await measurePasses(groups)) {
      rows.push(row);
      console.log(formatPassRow(row));
    }
  }
  console.log('\n' + formatPassTable(rows));
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/reconcile-last.json', JSON.stringify(rows, null, 2));
}

async function measurePasses(groups: number): Promise<PassRow[]> {
  const backends: Pushgateway[] = [];
  let frontDoor: FrontDoor | undefined;
  try {
    backends.push(...(await Promise.all(Array.from({ length: 10 }, () => startPushgateway({ args: ['--push.disable-consistency-check'] })))));
    const shardsOf = (fifthDraining: boolean) => Array.from({ length: 5 }, (_, s) => ({ name: `s${s}`, weight: 1, draining: s === 4 && fifthDraining }));
    const replicasOf = Object.fromEntries(shardsOf(true).map((s, i) => [s.name, backends.slice(2 * i, 2 * i + 2)]));
    await waitForGroups(await seed(replicasOf, ringOf(shardsOf(true)), groups));
    const configFor = (fifthDraining: boolean): string[] => [
      'log: { level: warn }',
      'reconcile: { intervalSeconds: 1, concurrency: 8 }',
      'reload: { liveResize: true, intervalSeconds: 1 }',
      'shards:',
      ...shardsOf(fifthDraining).map(
        (s, i) => `  - { name: ${s.name}, draining: ${s.draining}, replicas: ["${backends[2 * i]!.url}", "${backends[2 * i + 1]!.url}"] }`,
      ),
    ];
    const door = await startFrontDoor(configFor(true));
    frontDoor = door;
    const pid = door.process.pid;
    const idleRssMb = (await memoryOf(pid)).rssMb;
    const passes = watchPasses(door.url);
    try {
      const stage = async (name: string, done: (seen: PassSample[]) => boolean): Promise<PassRow> => {
        const from = passes.seen.length;
        await resetPeak(pid);
        await waitFor(async () => done(passes.seen.slice(from)), { what: `the reconciler: ${name}`, timeoutMs: 3_600_000, intervalMs: 250 });
        const seen = passes.seen.slice(from);
        const moved = seen.length === 0 ? 0 : seen.at(-1)!.moved - (passes.seen[from - 1]?.moved ?? 0);
        return {
          groups,
          stage: name,
          passes: seen.length,
          passMs: seen.map((p) => p.durationMs),
          moved,
          idleRssMb,
          peakRssMb: (await memoryOf(pid)).peakMb,
        };
      };
      const inSync = await stage('in sync', (seen) => seen.length >= 3);
      await door.reconfigure(configFor(false));
      const growing = await stage(
        'growing 4 -> 5',
        (seen) => seen.length >= 2 && seen.at(-1)!.phase === 'none' && seen.at(-1)!.misplaced === 0 && seen.at(-1)!.moved > 0,
      );
      return [inSync, growing];
    } finally {
      passes.stop();
    }
  } finally {
    await frontDoor?.stop();
    await Promise.all(backends.map((b) => b.close()));
  }
}

interface PassSample {
  durationMs: number;
  phase: string;
  misplaced: number;
  moved: number;
}

/** Polls the front door's self-metrics and notes every pass it reports. */
function watchPasses(url: string): { seen: PassSample[]; stop(): void } {
  const seen: PassSample[] = [];
  let count = 0;
  const timer = setInterval(() => {
    void (async () => {
      const text = await (await fetch(`${url}/-/metrics`)).text();
      const value = (pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? NaN);
      const total = value(/^pushring_reconcile_passes_total (\S+)$/m);
      if (!(total > count)) return;
      count = total;
      seen.push({
        durationMs: value(/^pushring_reconcile_pass_duration_seconds (\S+)$/m) * 1000,
        phase: /^pushring_ring_change_phase\{phase="(\w+)"\} 1$/m.exec(text)?.[1] ?? '?',
        misplaced: value(/^pushring_ring_change_misplaced_groups (\S+)$/m),
        moved: value(/^pushring_reconcile_actions_total\{action="moved"\} (\S+)$/m) || 0,
      });
    })().catch(() => undefined);
  }, 100);
  return { seen, stop: () => clearInterval(timer) };
}

async function memoryOf(pid: number): Promise<{ rssMb: number; peakMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** Resets VmHWM to the current RSS (Linux: 5 > clear_refs); where refused, the peak is the process's. */
async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => undefined);
}

function formatPassRow(row: PassRow): string {
  const sorted = [...row.passMs].sort((a, b) => a - b);
  return [
    String(row.groups).padStart(7),
    row.stage.padEnd(15),
    String(row.passes).padStart(6),
    `${(sorted[Math.floor(sorted.length / 2)] ?? NaN).toFixed(0)} ms`.padStart(10),
    `${(sorted.at(-1) ?? NaN).toFixed(0)} ms`.padStart(10),
    String(row.moved).padStart(6),
    `${row.idleRssMb.toFixed(0)} MB`.padStart(8),
    `${row.peakRssMb.toFixed(0)} MB`.padStart(8),
  ].join(' | ');
}

function formatPassTable(rows: readonly PassRow[]): string {
  const header = [
    'groups'.padStart(7),
    'stage'.padEnd(15),
    'passes'.padStart(6),
    'median'.padStart(10),
    'slowest'.padStart(10),
    'moved'.padStart(6),
    'idle RSS'.padStart(8),
    'peak RSS'.padStart(8),
  ].join(' | ');
  return [header, '-'.repeat(header.length), ...rows.map(formatPassRow)].join('\n');
}

try {
  await main();
} finally {
  await removeTempDirs();
}
