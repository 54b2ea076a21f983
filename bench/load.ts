/**
 * What every bench scenario shares: the pushed body, filling and seeding groups, the front door
 * process, wrk, and what is read from /proc.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'undici';
import { makeGroupingKey } from '../src/core/grouping-key.js';
import type { Ring } from '../src/core/ring.js';
import { freePort, spawnProcess, tempDir, waitFor, WaitCancelledError, type ManagedProcess } from '../test/helpers/processes.js';
import type { Pushgateway } from '../test/helpers/pushgateway.js';

export const BODY = 'bench_value{kind="a"} 42\nbench_other 1\n';

export interface WrkOptions {
  groups: number;
  durationS: number;
  connections: number;
}

/** The push path of bench group `i`; wrk's script spells it the same way. */
function pathOf(i: number): string {
  return `/metrics/job/bench/instance/i${i}`;
}

/** The canonical grouping key of bench group `i`, as the front door places it. */
function canonicalOf(i: number): string {
  return makeGroupingKey(
    new Map([
      ['job', 'bench'],
      ['instance', `i${i}`],
    ]),
  ).canonical;
}

async function put(pool: Pool, i: number): Promise<number> {
  const res = await pool.request({ method: 'PUT', path: pathOf(i), body: BODY, headers: { 'content-type': 'text/plain' } });
  await res.body.dump();
  return res.statusCode;
}

/** PUTs every group once, 32 at a time, so the backends hold N groups before wrk starts. */
export async function fill(target: string, groups: number): Promise<void> {
  const pool = new Pool(target, { connections: 32 });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < groups) {
      const i = next++;
      const status = await put(pool, i);
      if (status >= 300) throw new Error(`filling group ${i} answered ${status}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: 32 }, worker));
  } finally {
    await pool.close();
  }
}

/**
 * PUTs each group straight to every replica of the shard `ring` places it on (`replicasOf` maps
 * shard names to backends), bypassing any front door; returns how many groups each backend got.
 * Meant for unchecked backends: a checked one would take minutes at 20,000 groups.
 */
export async function seed(replicasOf: Readonly<Record<string, readonly Pushgateway[]>>, ring: Ring, groups: number): Promise<Map<Pushgateway, number>> {
  const backends = Object.values(replicasOf).flat();
  const pools = new Map(backends.map((b) => [b, new Pool(b.url, { connections: 8 })]));
  const expected = new Map(backends.map((b) => [b, 0]));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < groups) {
      const i = next++;
      const shard = ring.ownerOf(canonicalOf(i));
      const replicas = replicasOf[shard];
      if (replicas === undefined) throw new Error(`the ring placed group ${i} on ${shard}, which has no backends here`);
      for (const backend of replicas) {
        expected.set(backend, expected.get(backend)! + 1);
        const status = await put(pools.get(backend)!, i);
        if (status >= 300) throw new Error(`seeding group ${i} on ${backend.url} answered ${status}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: 32 }, worker));
  } finally {
    await Promise.all([...pools.values()].map((p) => p.close()));
  }
  return expected;
}

/** Waits until every backend holds the groups `seed` sent it: an unchecked Pushgateway answers 202 and applies the push later. */
export async function waitForGroups(expected: ReadonlyMap<Pushgateway, number>): Promise<void> {
  for (const [backend, count] of expected) {
    await waitFor(async () => (await countGroups(backend.url)) === count, {
      what: `${backend.url} to hold its ${count} groups`,
      timeoutMs: 300_000,
      intervalMs: 500,
    });
  }
}

async function countGroups(url: string): Promise<number> {
  const text = await (await fetch(`${url}/api/v1/metrics`)).text();
  return text.match(/"push_time_seconds"/g)?.length ?? 0;
}

/** How many of `backends` answer their scrape (GET /metrics) with 200: an inconsistent Pushgateway answers 500. */
export async function countGoodScrapes(backends: readonly Pushgateway[]): Promise<number> {
  const ok = await Promise.all(
    backends.map(async (b) => {
      const res = await fetch(`${b.url}/metrics`);
      await res.body?.cancel();
      return res.status === 200;
    }),
  );
  return ok.filter(Boolean).length;
}

export interface FrontDoor {
  readonly url: string;
  readonly process: ManagedProcess;
  /** Replaces its configuration file (`listen` kept) the way an operator's tooling does: by rename. */
  reconfigure(configLines: readonly string[]): Promise<void>;
  /** Kills it and waits for the exit (SIGTERM when profiling, so that the profile is written). */
  stop(): Promise<void>;
}

/**
 * Starts `pushring serve` on a free port with the given YAML lines (`listen` added), and waits
 * until it is ready. With PUSHRING_BENCH_CPU_PROF=<dir>, each front door writes a V8 CPU profile
 * there when it stops (node --cpu-prof): `--only` one row to profile it.
 */
export async function startFrontDoor(configLines: readonly string[]): Promise<FrontDoor> {
  const dir = await tempDir('pushring-bench-');
  const port = await freePort();
  const file = join(dir, 'pushring.yaml');
  const textOf = (lines: readonly string[]): string => [`listen: "127.0.0.1:${port}"`, ...lines].join('\n');
  await writeFile(file, textOf(configLines));
  const profile = process.env['PUSHRING_BENCH_CPU_PROF'];
  const nodeArgs = profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`];
  const proc = spawnProcess(process.execPath, [...nodeArgs, 'bin/pushring.js', 'serve', '--config', file], { logFile: join(dir, 'pushring.log') });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, { what: 'the front door to be ready', timeoutMs: 20_000 });
  } catch (err) {
    proc.kill();
    await proc.exited;
    throw err;
  }
  return {
    url,
    process: proc,
    async reconfigure(lines) {
      await writeFile(`${file}.tmp`, textOf(lines));
      await rename(`${file}.tmp`, file);
    },
    async stop() {
      proc.kill(profile === undefined ? 'SIGKILL' : 'SIGTERM');
      await proc.exited;
    },
  };
}

/**
 * PUTs group 0 again through the front door until it is stored: a front door that judges waits
 * for its index (built from the backends at start) and answers 503 meanwhile. Any other refusal
 * is a broken setup, reported at once.
 */
export async function waitUntilPushesPass(url: string): Promise<void> {
  const pool = new Pool(url, { connections: 1 });
  const broken = new AbortController();
  let refusal = '';
  try {
    await waitFor(
      async () => {
        const res = await pool.request({ method: 'PUT', path: pathOf(0), body: BODY, headers: { 'content-type': 'text/plain' } });
        const text = await res.body.text();
        if (res.statusCode < 300) return true;
        if (res.statusCode !== 503) {
          refusal = `a push through the front door answered ${res.statusCode}: ${text.trim()}`;
          broken.abort();
        }
        return false;
      },
      { what: 'a push through the front door to be stored', timeoutMs: 300_000, intervalMs: 250, signal: broken.signal },
    );
  } catch (err) {
    throw err instanceof WaitCancelledError ? new Error(refusal) : err;
  } finally {
    await pool.close();
  }
}

export interface WrkResult {
  requests: number;
  durationUs: number;
  /** Non-2xx/3xx answers, connection errors and time-outs. */
  errors: number;
  p50Us: number;
  p99Us: number;
}

export async function runWrk(wrk: string, target: string, options: WrkOptions): Promise<WrkResult> {
  const dir = await tempDir('pushring-wrk-');
  const script = join(dir, 'put.lua');
  const out = join(dir, 'wrk.out');
  await writeFile(script, wrkScript(options.groups));
  // wrk's 2 s default time-out would count the slowest pushes of a checked Pushgateway holding
  // 20,000 groups as errors and drop them from the latencies.
  const proc = spawnProcess(wrk, ['-t2', `-c${options.connections}`, `-d${options.durationS}s`, '--timeout', '60s', '-s', script, target], { logFile: out });
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

/** User + system CPU time of a process, in clock ticks of 10 ms (USER_HZ 100). */
export async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** What one wrk run against `target` measured, with the front door's CPU per push and the scrapes that stayed good. */
export async function measureRun(
  wrk: string,
  target: string,
  options: WrkOptions,
  frontDoor: FrontDoor | undefined,
  backends: readonly Pushgateway[],
): Promise<{ pushesPerS: number; p50Ms: number; p99Ms: number; errors: number; cpuUsPerPush: number | undefined; goodScrapes: number; backends: number }> {
  const pid = frontDoor?.process.pid;
  const cpuBefore = pid === undefined ? 0 : await cpuTicks(pid);
  const result = await runWrk(wrk, target, options);
  const cpuAfter = pid === undefined ? 0 : await cpuTicks(pid);
  return {
    pushesPerS: result.requests / (result.durationUs / 1e6),
    p50Ms: result.p50Us / 1000,
    p99Ms: result.p99Us / 1000,
    errors: result.errors,
    // /proc counts in clock ticks of 10 ms (USER_HZ 100).
    cpuUsPerPush: pid === undefined ? undefined : ((cpuAfter - cpuBefore) * 10_000) / result.requests,
    goodScrapes: await countGoodScrapes(backends),
    backends: backends.length,
  };
}
