/**
 * `npm run bench -- --scenario read [--groups N]`: reading every group through the front door.
 * 4 x 2 fast backends are seeded directly with N groups (100,000 unless --groups says); a front
 * door (`pushring serve`) then answers GET /api/v1/metrics and GET /metrics, each read whole by a
 * client that keeps only counts: the time of each read, what it sent, and the front door's peak
 * RSS during it (VmHWM, reset before each read where the kernel allows it). The reference is one
 * lone Pushgateway seeded with the same groups and read the same way, in the same run: the ratio
 * is what reading through the ring costs over reading one Pushgateway that holds everything.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'undici';
import { ringOf } from '../src/core/ring.js';
import { requireBinary } from '../test/helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../test/helpers/pushgateway.js';
import { seed, startFrontDoor, waitForGroups, type FrontDoor } from './load.js';

interface ReadRow {
  groups: number;
  path: string;
  /** What the lone Pushgateway holding the same groups took for the same read. */
  referenceMs: number;
  referenceBytes: number;
  status: number;
  ms: number;
  bytes: number;
  /** push_time_seconds series (text) or groups (JSON) counted in the answer. */
  counted: number;
  idleRssMb: number;
  peakRssMb: number;
}

export async function benchReads(sizes: readonly number[]): Promise<void> {
  requireBinary('prometheus-pushgateway');
  console.log('pushring bench, reads: 4 x 2 fast backends seeded directly, read whole through one front door\n');
  for (const groups of sizes) for (const row of await measureReads(groups)) console.log(formatReadRow(row));
}

async function measureReads(groups: number): Promise<ReadRow[]> {
  const backends: Pushgateway[] = [];
  let door: FrontDoor | undefined;
  try {
    backends.push(...(await Promise.all(Array.from({ length: 9 }, () => startPushgateway({ args: ['--push.disable-consistency-check'] })))));
    const lone = backends[8]!;
    const shards = Array.from({ length: 4 }, (_, s) => ({ name: `s${s}`, weight: 1, draining: false }));
    const replicasOf = Object.fromEntries(shards.map((s, i) => [s.name, backends.slice(2 * i, 2 * i + 2)]));
    await waitForGroups(await seed(replicasOf, ringOf(shards), groups));
    await waitForGroups(await seed({ lone: [lone] }, ringOf([{ name: 'lone', weight: 1, draining: false }]), groups));
    door = await startFrontDoor([
      'log: { level: warn }',
      'write: { timeoutMs: 30000 }',
      'shards:',
      ...shards.map((s, i) => `  - { name: ${s.name}, replicas: ["${backends[2 * i]!.url}", "${backends[2 * i + 1]!.url}"] }`),
    ]);
    const pid = door.process.pid;
    const idleRssMb = (await memoryOf(pid)).rssMb;
    const rows: ReadRow[] = [];
    for (const path of ['/api/v1/metrics', '/metrics']) {
      const reference = await readWhole(lone.url, path);
      await writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => undefined);
      const read = await readWhole(door.url, path);
      rows.push({
        groups,
        path,
        ...read,
        referenceMs: reference.ms,
        referenceBytes: reference.bytes,
        idleRssMb,
        peakRssMb: (await memoryOf(pid)).peakMb,
      });
    }
    return rows;
  } finally {
    await door?.stop();
    await Promise.all(backends.map((b) => b.close()));
  }
}

/** Reads an answer whole, keeping only its size and how many groups it shows. */
async function readWhole(base: string, path: string): Promise<{ status: number; ms: number; bytes: number; counted: number }> {
  const started = performance.now();
  const res = await request(base + path);
  let bytes = 0;
  let counted = 0;
  const marker = Buffer.from(path === '/metrics' ? '\npush_time_seconds{' : '"push_time_seconds"');
  let tail = Buffer.alloc(0);
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    // Counted across chunk boundaries: the last bytes of a chunk are searched again with the next.
    const window = Buffer.concat([tail, chunk]);
    for (let at = window.indexOf(marker); at !== -1; at = window.indexOf(marker, at + 1)) if (at + marker.length > tail.length) counted++;
    tail = window.subarray(Math.max(0, window.length - marker.length + 1));
  }
  return { status: res.statusCode, ms: performance.now() - started, bytes, counted };
}

async function memoryOf(pid: number): Promise<{ rssMb: number; peakMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

function formatReadRow(r: ReadRow): string {
  return (
    `${String(r.groups).padStart(7)} groups  GET ${r.path.padEnd(16)} ${r.status}  ${(r.ms / 1000).toFixed(2)} s  ` +
    `${(r.bytes / 1e6).toFixed(1)} MB  ${r.counted} groups seen  front door RSS idle ${r.idleRssMb.toFixed(0)} MB, peak ${r.peakRssMb.toFixed(0)} MB\n` +
    `${''.padStart(14)} a lone Pushgateway holding them: ${(r.referenceMs / 1000).toFixed(2)} s, ${(r.referenceBytes / 1e6).toFixed(1)} MB; ` +
    `through pushring ${(r.ms / r.referenceMs).toFixed(2)}x its time`
  );
}
