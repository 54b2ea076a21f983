/**
 * Issue 12's rows: what judging pushes in the front door costs, at each size of --judge-groups.
 *
 * (a) one checked Pushgateway (default flags) holding N groups: the reference;
 * (b) pushring 4x2 over checked backends, `judge.mode: backends`;
 * (c) pushring 4x2 judging in the front door (`judge.mode: front-door`, the default) over
 *     unchecked backends (`--push.disable-consistency-check`);
 * (d) pushring 4x2 over unchecked backends without judging (`judge.mode: backends`): unsafe, only
 *     there to show what judging costs.
 *
 * A checked Pushgateway slows as it fills (about 100 pushes/s at 2,000 groups), so no backend is
 * filled through its checked API: each is started unchecked, seeded directly with the groups the
 * ring places on its shard, and a checked one is then stopped gracefully (SIGTERM drains its queue
 * and writes its persistence file) and started checked on the same file. The front door starts
 * after the seeding, so a judging one builds its index from what the backends hold.
 */
import { createRing } from '../src/core/ring.js';
import { startPushgateway, type Pushgateway, type PushgatewayOptions } from '../test/helpers/pushgateway.js';
import { measureRun, seed, startFrontDoor, waitForGroups, waitUntilPushesPass, type FrontDoor, type WrkOptions } from './load.js';
import { failedRow, formatRow, selectorOf, type Row } from './rows.js';

interface JudgingSetup {
  readonly label: string;
  readonly setup: string;
  /** The backends run with default flags (they check every push themselves). */
  readonly checked: boolean;
  /** undefined: no front door, wrk pushes to the one Pushgateway. */
  readonly judge: 'front-door' | 'backends' | undefined;
}

const SETUPS: readonly JudgingSetup[] = [
  { label: '(a)', setup: 'direct 1 Pushgateway', checked: true, judge: undefined },
  { label: '(b)', setup: 'pushring 4x2 judge:backends', checked: true, judge: 'backends' },
  { label: '(c)', setup: 'pushring 4x2 judge:front-door', checked: false, judge: 'front-door' },
  { label: '(d)', setup: 'pushring 4x2 judge:backends', checked: false, judge: 'backends' },
];

const UNCHECKED = '--push.disable-consistency-check';

export interface JudgingOptions extends Omit<WrkOptions, 'groups'> {
  sizes: readonly number[];
  only: string | undefined;
}

/** Measures every setup at every size, printing each row as it lands, then the comparison lines. */
export async function benchJudging(options: JudgingOptions, wrk: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (const groups of options.sizes) {
    const atSize: Row[] = [];
    for (const spec of SETUPS) {
      const head = { section: 'judging', label: spec.label, setup: spec.setup, flags: spec.checked ? 'default' : 'no-consistency-check', groups } as const;
      if (options.only !== undefined && !selectorOf(head).includes(options.only)) continue;
      let row: Row;
      try {
        row = { ...head, ...(await measure(spec, { ...options, groups }, wrk)), vsDirect: undefined, failure: undefined };
      } catch (err) {
        row = failedRow(head, err);
      }
      atSize.push(row);
      const direct = atSize.find((r) => r.label === '(a)' && r.failure === undefined);
      if (direct !== undefined && row.failure === undefined) row.vsDirect = row.pushesPerS / direct.pushesPerS;
      console.log(formatRow(row));
    }
    rows.push(...atSize);
  }
  return rows;
}

/** The line issue 12 asks for at each size, where (a), (c) and (d) were all measured. */
export function formatJudgingSummary(rows: readonly Row[]): string[] {
  const lines: string[] = [];
  for (const groups of new Set(rows.map((r) => r.groups))) {
    const find = (label: string): Row | undefined => rows.find((r) => r.groups === groups && r.label === label && r.failure === undefined);
    const [direct, judged, unjudged] = [find('(a)'), find('(c)'), find('(d)')];
    if (direct === undefined || judged === undefined || unjudged === undefined) continue;
    const cost = (1 - judged.pushesPerS / unjudged.pushesPerS) * 100;
    lines.push(
      `${groups} groups: judging costs ${cost.toFixed(0)}% of the throughput without it ((c) vs (d)); ` +
        `(c) is ${(judged.pushesPerS / direct.pushesPerS).toFixed(1)}x one checked Pushgateway`,
    );
  }
  return lines;
}

type Measured = Pick<Row, 'pushesPerS' | 'p50Ms' | 'p99Ms' | 'errors' | 'cpuUsPerPush' | 'goodScrapes' | 'backends'>;

async function measure(spec: JudgingSetup, options: WrkOptions, wrk: string): Promise<Measured> {
  const shardCount = spec.judge === undefined ? 1 : 4;
  const replicas = spec.judge === undefined ? 1 : 2;
  const names = Array.from({ length: shardCount }, (_, s) => `s${s}`);
  const backends: Pushgateway[] = [];
  let frontDoor: FrontDoor | undefined;
  try {
    // The persistence file only carries a checked backend's seed across its restart; the long
    // interval leaves the writing to the SIGTERM.
    const seeding: PushgatewayOptions = spec.checked ? { persistence: true, args: [UNCHECKED, '--persistence.interval=1h'] } : { args: [UNCHECKED] };
    await startAll(shardCount * replicas, seeding, backends);
    const replicasOf = Object.fromEntries(names.map((name, s) => [name, backends.slice(s * replicas, (s + 1) * replicas)]));
    const expected = await seed(replicasOf, createRing(names.map((name) => ({ name, weight: 1 }))), options.groups);
    if (spec.checked) {
      // Checked from now on, with the Pushgateway's default persistence interval (5m, longer than
      // a run): the helper's 50 ms would make it rewrite N groups to disk all along.
      await Promise.all(backends.map((b) => b.restart({ signal: 'SIGTERM', args: ['--persistence.interval=5m'] })));
    }
    await waitForGroups(expected);
    if (spec.judge !== undefined) {
      frontDoor = await startFrontDoor([
        'log: { level: warn }',
        `judge: { mode: ${spec.judge} }`,
        // The reconciler's passes are the reconcile scenario's subject; here they would land in
        // some runs and not in others.
        'reconcile: { intervalSeconds: 0 }',
        'shards:',
        ...names.map((name) => `  - { name: ${name}, replicas: [${replicasOf[name]!.map((b) => `"${b.url}"`).join(', ')}] }`),
      ]);
      await waitUntilPushesPass(frontDoor.url);
    }
    return await measureRun(wrk, frontDoor?.url ?? backends[0]!.url, options, frontDoor, backends);
  } finally {
    await frontDoor?.stop();
    await Promise.all(backends.map((b) => b.close()));
  }
}

/** Starts `count` Pushgateways at once into `into`, so that the caller closes every one that started even when another failed. */
async function startAll(count: number, options: PushgatewayOptions, into: Pushgateway[]): Promise<void> {
  const started = await Promise.allSettled(Array.from({ length: count }, () => startPushgateway(options)));
  for (const s of started) if (s.status === 'fulfilled') into.push(s.value);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
}
