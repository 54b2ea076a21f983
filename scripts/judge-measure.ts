/**
 * Measures the judge (not a test: figures depend on the machine):
 *   - µs per fieldsOf + judgeWrite of a 2-family push, to a new group and re-pushed unchanged;
 *   - bytes per series of a Map-backed index at 20,000 and 100,000 groups of 5 series.
 *
 *   node --expose-gc --import tsx scripts/judge-measure.ts [groups...]
 */
import { pathToFileURL } from 'node:url';
import { makeGroupingKey } from '../src/core/grouping-key.js';
import { applyChange } from '../src/core/index-table.js';
import { fieldsOf, judgeWrite, type GroupWrite } from '../src/core/judge.js';
import { VALUE_COUNTER, VALUE_GAUGE, type PushedFamily } from '../src/core/push-body.js';

const LIMITS = { maxSeries: Number.MAX_SAFE_INTEGER };

/** A batch job's push: 2 families, 3 series; with the two push timestamps, 5 series a group. */
export function writeOfGroup(i: number): GroupWrite {
  const key = makeGroupingKey(
    new Map([
      ['job', 'batch'],
      ['instance', `host-${i}`],
    ]),
  );
  const families: PushedFamily[] = [
    { name: 'batch_last_success_seconds', help: 'Last success.', type: 'GAUGE', metrics: [{ labels: [], values: VALUE_GAUGE, hasTimestamp: false }] },
    {
      name: 'batch_records_total',
      help: 'Records processed.',
      type: 'COUNTER',
      metrics: [
        { labels: [['kind', 'read']], values: VALUE_COUNTER, hasTimestamp: false },
        { labels: [['kind', 'written']], values: VALUE_COUNTER, hasTimestamp: false },
      ],
    },
  ];
  return { group: key.canonical, labels: key.labels, method: 'PUT', families };
}

/** Judges and commits one write; throws unless it is accepted and commits. */
export function pushInto(table: Map<string, string>, write: GroupWrite): void {
  fieldsOf(write);
  const verdict = judgeWrite(write, (field) => table.get(field), LIMITS);
  if (!verdict.ok || !applyChange(table, verdict.change)) throw new Error(`not accepted: ${JSON.stringify(verdict)}`);
}

export function buildIndex(groups: number): Map<string, string> {
  const table = new Map<string, string>();
  for (let i = 0; i < groups; i++) pushInto(table, writeOfGroup(i));
  return table;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** CPU time (user + system, the collector's threads included) per call; the first tenth warms up. */
function microsPerCall(n: number, call: (i: number) => void): number {
  const warm = Math.floor(n / 10);
  for (let i = 0; i < warm; i++) call(i);
  const start = process.cpuUsage();
  for (let i = warm; i < n; i++) call(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / (n - warm);
}

function main(argv: readonly string[]): void {
  if ((globalThis as { gc?: unknown }).gc === undefined) process.stderr.write('run with node --expose-gc for memory figures\n');
  const table = buildIndex(20_000);
  const judgeOnly = (write: GroupWrite): void => {
    fieldsOf(write);
    judgeWrite(write, (field) => table.get(field), LIMITS);
  };
  // A fresh write object for every call, as each push brings its own (made inside the timed loop,
  // its cost measured apart and taken off): nothing is cached between calls, nothing piles up.
  const making = microsPerCall(200_000, (i) => writeOfGroup(i % 20_000));
  const unchanged = microsPerCall(200_000, (i) => judgeOnly(writeOfGroup(i % 20_000))) - making;
  const newGroup = microsPerCall(200_000, (i) => judgeOnly(writeOfGroup(1_000_000 + i))) - making;
  const scratch = new Map(table);
  const committed = microsPerCall(100_000, (i) => pushInto(scratch, writeOfGroup(2_000_000 + i))) - making;
  console.log(`CPU µs of fieldsOf + judgeWrite, 2 families / 3 series, index of 20,000 groups:`);
  console.log(`  re-push, unchanged: ${unchanged.toFixed(2)} µs; new group: ${newGroup.toFixed(2)} µs; new group + applyChange: ${committed.toFixed(2)} µs`);

  for (const groups of argv.length > 0 ? argv.map(Number) : [20_000, 100_000]) {
    gc();
    const before = process.memoryUsage().heapUsed;
    const index = buildIndex(groups);
    gc();
    const bytes = process.memoryUsage().heapUsed - before;
    const series = Number(index.get('#series'));
    console.log(`${groups} groups, ${series} series, ${index.size} fields: ${(bytes / 2 ** 20).toFixed(1)} MiB, ${(bytes / series).toFixed(0)} bytes/series`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main(process.argv.slice(2));
