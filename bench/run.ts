/**
 * `npm run bench` (`--scenario push`, the default): pushes/s and latency of (a) one Pushgateway
 * holding N groups, (b) pushring over 2 shards x 2 replicas and (c) over 4 x 2 holding the same N
 * groups, with default Pushgateway flags and with --push.disable-consistency-check; ratios
 * against (a).
 *
 * Every setup is started fresh on free loopback ports, filled with N groups, then driven by wrk
 * (PUTs spread over the N groups) for a fixed time. With fast backends, pushring 2x2 also runs
 * with a per-job limit that is never reached, counted in memory and in a real redis-server. The front door's CPU time per push is read
 * from /proc. Nothing here asserts timings: it prints them.
 *
 * `--scenario reconcile`: the reconciler's cost. 4 x 2 fast backends (and a fifth shard,
 * draining) are seeded directly with N groups (20,000 and 100,000 unless --groups says); a front
 * door reconciles them: the time of each pass and the front door's peak RSS, first with the
 * replicas in sync, then while the fifth shard takes its share (a live 4 -> 5 ring change).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { ringOf } from '../src/core/ring.js';
import { freePort, requireBinary, spawnProcess, tempDir, waitFor, removeTempDirs } from '../test/helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../test/helpers/pushgateway.js';
import { startRedis } from '../test/helpers/redis.js';

interface Options {
  groups: number;
  durationS: number;
  connections: number;
  only: string | undefined;
}

const SCENARIOS = ['push', 'reconcile'] as const;

interface Row {
  setup: string;
  flags: string;
  pushesPerS: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  cpuUsPerPush: number | undefined;
}

const BODY = 'bench_value{kind="a"} 42\nbench_other 1\n';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'push' },
      groups: { type: 'string' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '16' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
    },
  });
  const scenario = values.scenario as (typeof SCENARIOS)[number];
  if (!SCENARIOS.includes(scenario)) throw new Error(`--scenario: one of ${SCENARIOS.join(', ')}`);
  if (scenario === 'reconcile') {
    const sizes = values.groups === undefined ? (values.quick ? [2_000] : [20_000, 100_000]) : values.groups.split(',').map(Number);
    await benchReconciler(sizes);
    return;
  }
  const options: Options = {
    groups: values.quick ? 200 : Number(values.groups ?? 2000),
    durationS: values.quick ? 3 : Number(values.duration),
    connections: Number(values.connections),
    only: values.only,
  };
  const wrk = requireBinary('wrk');
  requireBinary('prometheus-pushgateway');
  requireBinary('redis-server');
  const rows: Row[] = [];
  console.log(`pushring bench: ${options.groups} groups, wrk ${options.connections} connections x ${options.durationS}s per setup\n`);
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
        if (options.only !== undefined && !`${setup} ${flags}`.includes(options.only)) continue;
        const row = await measure(setup, flags, [...args], options, wrk, redis.url);
        rows.push(row);
        console.log(formatRow(row, rows));
      }
    }
  } finally {
    await redis.close();
  }
  console.log('\n' + formatTable(rows));
  const unlimited = rows.find((r) => r.setup === 'pushring 2x2' && r.flags === 'no-consistency-check');
  for (const limited of rows.filter((r) => r.setup.includes('limits:'))) {
    if (unlimited !== undefined) {
      console.log(`${limited.setup} (limit never reached) vs no limits: ${(limited.pushesPerS / unlimited.pushesPerS).toFixed(2)}x pushes/s`);
    }
  }
  const atRest = rows.find((r) => r.setup === 'pushring 4x2+1 at rest');
  const migrating = rows.find((r) => r.setup === 'pushring 4x2+1 migrating');
  if (atRest !== undefined && migrating !== undefined) {
    console.log(`pushes/s while growing 4 -> 5 shards vs at rest: ${(migrating.pushesPerS / atRest.pushesPerS).toFixed(2)}x`);
  }
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/last.json', JSON.stringify({ options, rows }, null, 2));
}

async function measure(setup: string, flags: string, pgArgs: string[], options: Options, wrk: string, redisUrl: string): Promise<Row> {
  // `4x2+1`: a fifth shard that drains (owns nothing); `migrating`: it starts owning its share
  // just before wrk starts, so the run measures pushes while groups move onto it.
  const shards = setup.startsWith('direct') ? 0 : setup.includes('2x2') ? 2 : setup.includes('+1') ? 5 : 4;
  const backends: Pushgateway[] = [];
  let frontDoor: ReturnType<typeof spawnProcess> | undefined;
  let resize = async (): Promise<void> => undefined;
  try {
    for (let i = 0; i < Math.max(1, shards * 2); i++) backends.push(await startPushgateway({ args: pgArgs }));
    let target = backends[0]!.url;
    if (shards > 0) {
      const dir = await tempDir('pushring-bench-');
      const port = await freePort();
      const configFor = (fifthDraining: boolean): string =>
        [
          `listen: "127.0.0.1:${port}"`,
          'log: { level: warn }',
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
        ].join('\n');
      await writeFile(join(dir, 'pushring.yaml'), configFor(true));
      resize = async () => {
        await writeFile(join(dir, 'pushring.yaml.tmp'), configFor(false));
        await rename(join(dir, 'pushring.yaml.tmp'), join(dir, 'pushring.yaml'));
        await waitFor(async () => ((await (await fetch(`${target}/-/status`)).json()) as { phase: string }).phase === 'dual', {
          what: 'the front door to start moving groups',
          timeoutMs: 10_000,
        });
      };
      frontDoor = spawnProcess(process.execPath, ['bin/pushring.js', 'serve', '--config', join(dir, 'pushring.yaml')], {
        logFile: join(dir, 'pushring.log'),
      });
      target = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await fetch(`${target}/-/ready`)).ok, { what: 'the front door to be ready', timeoutMs: 20_000 });
    }
    await fill(target, options.groups);
    if (setup.includes('migrating')) await resize();
    const cpuBefore = frontDoor === undefined ? 0 : await cpuTicks(frontDoor.pid);
    const result = await runWrk(wrk, target, options);
    const cpuAfter = frontDoor === undefined ? 0 : await cpuTicks(frontDoor.pid);
    return {
      setup,
      flags,
      pushesPerS: result.requests / (result.durationUs / 1e6),
      p50Ms: result.p50Us / 1000,
      p99Ms: result.p99Us / 1000,
      errors: result.errors,
      // /proc counts in clock ticks of 10 ms (USER_HZ 100).
      cpuUsPerPush: frontDoor === undefined ? undefined : ((cpuAfter - cpuBefore) * 10_000) / result.requests,
    };
  } finally {
    frontDoor?.kill();
    await frontDoor?.exited;
    await Promise.all(backends.map((b) => b.close()));
  }
}

/** PUTs every group once, 32 at a time, so the backends hold N groups before wrk starts. */
async function fill(target: string, groups: number): Promise<void> {
  const pool = new Pool(target, { connections: 32 });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < groups) {
      const i = next++;
      const res = await pool.request({ method: 'PUT', path: `/metrics/job/bench/instance/i${i}`, body: BODY, headers: { 'content-type': 'text/plain' } });
      await res.body.dump();
      if (res.statusCode >= 300) throw new Error(`filling group ${i} answered ${res.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  await pool.close();
}

interface WrkResult {
  requests: number;
  durationUs: number;
  errors: number;
  p50Us: number;
  p99Us: number;
}

async function runWrk(wrk: string, target: string, options: Options): Promise<WrkResult> {
  const dir = await tempDir('pushring-wrk-');
  const script = join(dir, 'put.lua');
  const out = join(dir, 'wrk.out');
  await writeFile(script, wrkScript(options.groups));
  const proc = spawnProcess(wrk, ['-t2', `-c${options.connections}`, `-d${options.durationS}s`, '-s', script, target], { logFile: out });
  await proc.exited;
  const text = await readFile(out, 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('RESULT '));
  if (line === undefined) throw new Error(`wrk printed no result:\n${text}`);
  return JSON.parse(line.slice('RESULT '.length)) as WrkResult;
}

/** Each wrk thread walks the groups from its own offset: every group is pushed, none twice in a row. */
function wrkScript(groups: number): string {
  return `
local threads = {}
local counter = 0
local offset = 0
local body = ${JSON.stringify(BODY)}
function setup(thread)
  thread:set("offset", #threads * ${Math.floor(groups / 2)})
  table.insert(threads, thread)
end
function request()
  counter = counter + 1
  return wrk.format("PUT", "/metrics/job/bench/instance/i" .. ((counter + offset) % ${groups}), {["Content-Type"] = "text/plain"}, body)
end
function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('RESULT {"requests":%d,"durationUs":%d,"errors":%d,"p50Us":%d,"p99Us":%d}\\n',
    summary.requests, summary.duration, errors, latency:percentile(50), latency:percentile(99)))
end
`;
}

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function ratioAgainstDirect(row: Row, rows: readonly Row[]): string {
  const direct = rows.find((r) => r.flags === row.flags && r.setup.startsWith('direct'));
  return direct === undefined ? '-' : `${(row.pushesPerS / direct.pushesPerS).toFixed(2)}x`;
}

function formatRow(row: Row, rows: readonly Row[]): string {
  const cpu = row.cpuUsPerPush === undefined ? '-' : `${row.cpuUsPerPush.toFixed(0)} µs`;
  return [
    row.setup.padEnd(27),
    row.flags.padEnd(21),
    `${row.pushesPerS.toFixed(0)}/s`.padStart(9),
    `${row.p50Ms.toFixed(2)} ms`.padStart(10),
    `${row.p99Ms.toFixed(2)} ms`.padStart(10),
    ratioAgainstDirect(row, rows).padStart(7),
    cpu.padStart(8),
    String(row.errors).padStart(7),
  ].join(' | ');
}

function formatTable(rows: readonly Row[]): string {
  const header = [
    'setup'.padEnd(27),
    'Pushgateway flags'.padEnd(21),
    'pushes'.padStart(9),
    'p50'.padStart(10),
    'p99'.padStart(10),
    'vs (a)'.padStart(7),
    'fd CPU'.padStart(8),
    'errors'.padStart(7),
  ].join(' | ');
  return [header, '-'.repeat(header.length), ...rows.map((r) => formatRow(r, rows))].join('\n');
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
  let frontDoor: ReturnType<typeof spawnProcess> | undefined;
  try {
    backends.push(...(await Promise.all(Array.from({ length: 10 }, () => startPushgateway({ args: ['--push.disable-consistency-check'] })))));
    const shardsOf = (fifthDraining: boolean) => Array.from({ length: 5 }, (_, s) => ({ name: `s${s}`, weight: 1, draining: s === 4 && fifthDraining }));
    await seed(backends, ringOf(shardsOf(true)), groups);
    const dir = await tempDir('pushring-bench-');
    const port = await freePort();
    const file = join(dir, 'pushring.yaml');
    const configFor = (fifthDraining: boolean): string =>
      [
        `listen: "127.0.0.1:${port}"`,
        'log: { level: warn }',
        'reconcile: { intervalSeconds: 1, concurrency: 8 }',
        'reload: { liveResize: true, intervalSeconds: 1 }',
        'shards:',
        ...shardsOf(fifthDraining).map(
          (s, i) => `  - { name: ${s.name}, draining: ${s.draining}, replicas: ["${backends[2 * i]!.url}", "${backends[2 * i + 1]!.url}"] }`,
        ),
      ].join('\n');
    await writeFile(file, configFor(true));
    const door = spawnProcess(process.execPath, ['bin/pushring.js', 'serve', '--config', file], { logFile: join(dir, 'pushring.log') });
    frontDoor = door;
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, { what: 'the front door to be ready', timeoutMs: 20_000 });
    const idleRssMb = (await memoryOf(door.pid)).rssMb;
    const passes = watchPasses(url);
    try {
      const stage = async (name: string, done: (seen: PassSample[]) => boolean): Promise<PassRow> => {
        const from = passes.seen.length;
        await resetPeak(door.pid);
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
          peakRssMb: (await memoryOf(door.pid)).peakMb,
        };
      };
      const inSync = await stage('in sync', (seen) => seen.length >= 3);
      await writeFile(`${file}.tmp`, configFor(false));
      await rename(`${file}.tmp`, file);
      const growing = await stage(
        'growing 4 -> 5',
        (seen) => seen.length >= 2 && seen.at(-1)!.phase === 'none' && seen.at(-1)!.misplaced === 0 && seen.at(-1)!.moved > 0,
      );
      return [inSync, growing];
    } finally {
      passes.stop();
    }
  } finally {
    frontDoor?.kill();
    await frontDoor?.exited;
    await Promise.all(backends.map((b) => b.close()));
  }
}

/** PUTs each group straight to both replicas of its owner, then waits until they hold them all. */
async function seed(backends: readonly Pushgateway[], ring: ReturnType<typeof ringOf>, groups: number): Promise<void> {
  const pools = backends.map((b) => new Pool(b.url, { connections: 8 }));
  const expected = backends.map(() => 0);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < groups) {
      const i = next++;
      const s = Number(ring.ownerOf(`{instance="i${i}",job="bench"}`).slice(1));
      for (const r of [2 * s, 2 * s + 1]) {
        expected[r]!++;
        const res = await pools[r]!.request({
          method: 'PUT',
          path: `/metrics/job/bench/instance/i${i}`,
          body: BODY,
          headers: { 'content-type': 'text/plain' },
        });
        await res.body.dump();
        if (res.statusCode >= 300) throw new Error(`seeding group ${i} answered ${res.statusCode}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  await Promise.all(pools.map((p) => p.close()));
  // Unchecked Pushgateways answer 202 and apply the push later.
  for (const [r, backend] of backends.entries()) {
    await waitFor(async () => ((await (await fetch(`${backend.url}/api/v1/metrics`)).text()).match(/"push_time_seconds"/g)?.length ?? 0) === expected[r], {
      what: `backend ${r} to hold its ${expected[r]} groups`,
      timeoutMs: 300_000,
      intervalMs: 500,
    });
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
      const text = await (await fetch(`${url}/metrics`)).text();
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
