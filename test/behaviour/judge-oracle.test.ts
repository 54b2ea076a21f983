/**
 * Level 1 of the differential test of the judge (issue 12): a checked Pushgateway 1.5.1 (the
 * reference) against the pure core — parsePushBody, judgeWrite and applyChange over a Map — step
 * by step. Each step must get the same status class (and the same start of a 400's message), and
 * leave the same set of groups: the reference's /api/v1/metrics against the index's group records.
 * Where the reference gets poisoned (its scrape breaks), the core must have refused the step, and
 * stored nothing of it (`failure` undefined) where the reference too answered 400; both are then
 * reset and the sequence goes on.
 *
 * Inputs: the named cases of test/corpus/consistency.ts (whose recorded answers are checked
 * against the binary first) and seeded sequences of test/helpers/push-sequence.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGroupingPath } from '../../src/core/grouping-key.js';
import { applyChange } from '../../src/core/index-table.js';
import { fieldsOf, GROUP_FIELD_PREFIX, judgeWrite, type GroupWrite } from '../../src/core/judge.js';
import { parsePushBody } from '../../src/core/parse-push-body.js';
import type { BodyLimits } from '../../src/core/push-body.js';
import { CONSISTENCY_CASES } from '../corpus/consistency.js';
import {
  applyToReference,
  describeStep,
  formatAnswer,
  formatDisagreements,
  generateSequence,
  groupKeysOf,
  messageStartOf,
  ORDER_DEPENDENT_BREAK,
  probeScrape,
  StepHistory,
  statusClassOf,
  type Disagreement,
  type PushStep,
  type StatusClass,
} from '../helpers/push-sequence.js';
import { rawGroups, startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);
const STEPS_PER_SEED = 150;
/**
 * Scrapes of the reference before a refusal it did not make counts as a disagreement (see
 * probeScrape). Go starts each map iteration at a random bucket and offset, so a group first in
 * only one order of 32 (19 groups fill four buckets of 8) is missed by 200 scrapes 0.2% of the time.
 */
const ORDER_PROBES = 200;

// Far above anything the generator or the corpus sends: these runs are about the rules, not the bounds.
const BODY_LIMITS: BodyLimits = { maxFamilies: 1000, maxSeries: 10_000, maxLabelsPerSeries: 64, maxStringBytes: 65_536 };
const JUDGE_LIMITS = { maxSeries: 1_000_000 };

/** What the core made of a step. */
interface CoreAnswer {
  readonly statusClass: StatusClass;
  /** The 400 body for a refusal. */
  readonly message: string;
  /** Refused as a poison push: nothing recorded at all. */
  readonly storedNothing: boolean;
  readonly shown: string;
}

/**
 * The front door's pipeline without its I/O: the grouping key, the body parsed, the write judged
 * against the table, and the verdict's change applied. `read` refuses any field the judge did not
 * declare in fieldsOf: the Redis index reads exactly those, so reading another is a bug.
 */
function judgeInCore(table: Map<string, string>, step: PushStep): CoreAnswer {
  const parsedPath = parseGroupingPath(step.path);
  if (!parsedPath.ok) throw new Error(`the corpus and the generator send push paths only, not ${step.path}`);
  const { key } = parsedPath;
  let families: GroupWrite['families'] = [];
  if (step.method !== 'DELETE') {
    const parsed = parsePushBody(step.body ?? Buffer.alloc(0), step.contentType, BODY_LIMITS);
    if (!parsed.ok) {
      const message = parsed.kind === 'invalid' ? parsed.message : `too large: ${parsed.limit} > ${parsed.max}`;
      return { statusClass: '4xx', message, storedNothing: true, shown: `parse ${parsed.kind}: ${message.trimEnd()}` };
    }
    families = parsed.families;
  }
  const write: GroupWrite = { group: key.canonical, labels: key.labels, method: step.method, families };
  const declared = new Set(fieldsOf(write));
  const read = (field: string): string | undefined => {
    if (!declared.has(field)) throw new Error(`judgeWrite read ${field}, which fieldsOf did not declare`);
    return table.get(field);
  };
  const verdict = judgeWrite(write, read, JUDGE_LIMITS);
  if (verdict.ok) {
    if (!applyChange(table, verdict.change)) throw new Error(`the change of ${describeStep(step)} did not apply to the table it was judged against`);
    applyChange(table, verdict.settle);
    return { statusClass: '2xx', message: '', storedNothing: false, shown: 'accepted' };
  }
  if (verdict.kind === 'full') return { statusClass: '4xx', message: 'full', storedNothing: true, shown: `full at ${verdict.maxSeries} series` };
  if (verdict.failure !== undefined && !applyChange(table, verdict.failure)) {
    throw new Error(`the failure record of ${describeStep(step)} did not apply to the table it was judged against`);
  }
  const stored = verdict.failure === undefined ? 'refused, nothing stored (poison)' : 'refused, failure recorded';
  return { statusClass: '4xx', message: verdict.message, storedNothing: verdict.failure === undefined, shown: `${stored}: ${verdict.message.trimEnd()}` };
}

function groupsOfTable(table: ReadonlyMap<string, string>): string[] {
  return [...table.keys()]
    .filter((f) => f.startsWith(GROUP_FIELD_PREFIX))
    .map((f) => f.slice(GROUP_FIELD_PREFIX.length))
    .sort();
}

let reference: Pushgateway;

beforeAll(async () => {
  reference = await startPushgateway();
});
afterAll(async () => {
  await reference?.close();
});

/**
 * Runs `steps` against the reference and the core, from empty; returns every disagreement. After
 * a poisoned step or a disagreement both start again from empty, so that one difference does not
 * hide the next.
 */
async function compareWithCore(where: string, steps: readonly PushStep[]): Promise<Disagreement[]> {
  await reference.wipe();
  const table = new Map<string, string>();
  const history = new StepHistory();
  const found: Disagreement[] = [];
  const reset = async (): Promise<void> => {
    await reference.wipe();
    table.clear();
    history.reset();
  };
  for (const [i, step] of steps.entries()) {
    const applied = await applyToReference(reference.url, step);
    const { answer } = applied;
    let core: CoreAnswer;
    try {
      core = judgeInCore(table, step);
    } catch (err) {
      core = { statusClass: '5xx', message: '', storedNothing: true, shown: `threw: ${err instanceof Error ? err.message : String(err)}` };
    }
    let { poisoned } = applied;
    if (poisoned === undefined && statusClassOf(answer.status) === '2xx' && core.statusClass === '4xx') {
      poisoned = await probeScrape(reference.url, ORDER_PROBES);
      if (poisoned === undefined && ORDER_DEPENDENT_BREAK.test(core.message)) poisoned = 'a scrape it breaks in some map orders';
    }
    const referenceShown = formatAnswer(answer) + (poisoned === undefined ? '' : ` — then poisoned: ${poisoned}`);
    const disagree = (what: string): void => {
      found.push({ where, step: i, request: describeStep(step), reference: referenceShown, subject: core.shown, what, before: history.list() });
    };
    let what: string | undefined;
    if (poisoned !== undefined) {
      if (core.statusClass !== '4xx') what = 'the reference was poisoned by a step the core did not refuse';
      // What the reference refused and stored anyway must leave no trace; what it accepted into a
      // broken scrape the core may refuse as it refuses any push, recording the failure.
      else if (statusClassOf(answer.status) === '4xx' && !core.storedNothing) what = 'the core recorded a failure of a push that poisoned the reference';
    } else if (core.statusClass !== statusClassOf(answer.status)) {
      what = `status class ${statusClassOf(answer.status)} against ${core.statusClass}`;
    } else if (core.statusClass === '4xx' && messageStartOf(core.message) !== messageStartOf(answer.body)) {
      what = `message start ${JSON.stringify(messageStartOf(answer.body))} against ${JSON.stringify(messageStartOf(core.message))}`;
    } else if (core.storedNothing && answer.body.startsWith('pushed metrics are invalid')) {
      what = 'the core stored nothing of a refused push that the reference recorded as failed without harm';
    } else {
      const held = groupKeysOf(await rawGroups(reference.url));
      const recorded = groupsOfTable(table);
      if (JSON.stringify(held) !== JSON.stringify(recorded)) what = `groups ${JSON.stringify(held)} against ${JSON.stringify(recorded)}`;
    }
    if (what !== undefined) disagree(what);
    if (poisoned !== undefined || what !== undefined) await reset();
    else history.record(step, formatAnswer(answer));
  }
  return found;
}

describe('a checked Pushgateway 1.5.1 gives the answers the corpus recorded', () => {
  it.each(CONSISTENCY_CASES.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    await reference.wipe();
    const answers: string[] = [];
    for (const { step, expect: expected, poisons } of testCase.steps) {
      const applied = await applyToReference(reference.url, step);
      const { answer } = applied;
      // One scrape may miss a store that only some map orders break.
      const poisoned = applied.poisoned ?? (poisons === true ? await probeScrape(reference.url, ORDER_PROBES) : undefined);
      answers.push(`${statusClassOf(answer.status)}${poisoned === undefined ? '' : ' poisoned'}`);
      expect(`${expected}${poisons === true ? ' poisoned' : ''}`, `${describeStep(step)}\n-> ${formatAnswer(answer)} ${poisoned ?? ''}`).toBe(answers.at(-1));
      if (poisoned !== undefined) await reference.wipe();
    }
  });
});

describe('the pure judge agrees with a checked Pushgateway 1.5.1', () => {
  it.each(CONSISTENCY_CASES.map((c) => [c.name, c] as const))('corpus: %s', async (name, testCase) => {
    const found = await compareWithCore(
      `corpus: ${name}`,
      testCase.steps.map((s) => s.step),
    );
    expect(found, formatDisagreements(found)).toEqual([]);
  });

  it.each(SEEDS)(`seed %d, ${STEPS_PER_SEED} steps`, async (seed) => {
    const found = await compareWithCore(`seed ${seed}`, generateSequence(seed, STEPS_PER_SEED));
    expect(found, formatDisagreements(found)).toEqual([]);
  });
});
