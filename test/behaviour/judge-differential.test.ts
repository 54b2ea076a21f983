/**
 * Level 2 of the differential test of the judge (issue 12): pushring judging in the front door
 * (`judge.mode: front-door`) over one shard of two unchecked Pushgateways, against a checked
 * Pushgateway 1.5.1 (the reference). Every step must get the same status (200 for a stored push,
 * as a checked Pushgateway answers, not the 202 of an unchecked one; 400 with the reference's
 * message start for a refused one), leave both backends holding the reference's groups, and
 * leave every backend's scrape whole. Where the reference gets poisoned, pushring must have
 * refused the step and neither backend may hold anything of it (but the failure record of a push
 * the reference accepted into a broken scrape); everything is then reset and the sequence goes on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGroupingPath } from '../../src/core/grouping-key.js';
import { CONSISTENCY_CASES } from '../corpus/consistency.js';
import { waitFor } from '../helpers/processes.js';
import {
  applyToReference,
  checkScrape,
  deleteStep,
  describeStep,
  formatAnswer,
  formatDisagreements,
  generateSequence,
  messageStartOf,
  ORDER_DEPENDENT_BREAK,
  probeScrape,
  sendStep,
  StepHistory,
  statusClassOf,
  textStep,
  type Answer,
  type Disagreement,
  type PushStep,
} from '../helpers/push-sequence.js';
import { startPushgateway, type Group, type Pushgateway } from '../helpers/pushgateway.js';
import { startFrontDoor, type FrontDoor } from './front-door.js';

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);
const STEPS_PER_SEED = 150;
/**
 * Scrapes of the reference before a refusal it did not make counts as a disagreement (see
 * probeScrape). Go starts each map iteration at a random bucket and offset, so a group first in
 * only one order of 32 (19 groups fill four buckets of 8) is missed by 200 scrapes 0.2% of the time.
 */
const ORDER_PROBES = 200;

let reference: Pushgateway;
let door: FrontDoor;
let backends: Pushgateway[];

beforeAll(async () => {
  [reference, door] = await Promise.all([
    startPushgateway(),
    startFrontDoor({ shards: 1, replicas: 2, pushgatewayArgs: ['--push.disable-consistency-check'], config: { judge: { mode: 'front-door' } } }),
  ]);
  backends = door.backends.flat();
});
afterAll(async () => {
  await Promise.all([reference?.close(), door?.close()]);
});

const same = (a: readonly Group[], b: readonly Group[]): boolean => JSON.stringify(a) === JSON.stringify(b);

// A group of its own that no generated or corpus push touches, pushed straight to a backend.
const BARRIER = textStep('PUT', '/metrics/job/pushring_test_barrier', '# TYPE pushring_test_barrier gauge\npushring_test_barrier 1\n');
const BARRIER_LABELS = JSON.stringify({ job: 'pushring_test_barrier' });

/**
 * Waits until a backend has applied every write it received so far: an unchecked Pushgateway
 * queues writes and applies them in order, so once a write sent now shows, all earlier ones have
 * been applied. Needed where the test asserts that something did NOT arrive.
 */
async function settle(backend: Pushgateway): Promise<void> {
  const has = async (): Promise<boolean> => (await backend.groups()).some((g) => JSON.stringify(g.labels) === BARRIER_LABELS);
  await sendStep(backend.url, BARRIER);
  await waitFor(async () => (await has()) || undefined, { what: `${backend.url} to apply a barrier push` });
  await sendStep(backend.url, deleteStep(BARRIER.path));
  await waitFor(async () => !(await has()), { what: `${backend.url} to apply the barrier's DELETE` });
}

function groupLabelsOf(step: PushStep): string {
  const parsed = parseGroupingPath(step.path);
  if (!parsed.ok) throw new Error(`not a push path: ${step.path}`);
  return JSON.stringify(Object.fromEntries(parsed.key.labels));
}

/**
 * Polls until both backends hold `expected` (ignoring a group labelled `failureOnly` that holds no
 * family); the last states seen when they never do.
 */
async function awaitBackends(expected: readonly Group[], failureOnly?: string): Promise<string | undefined> {
  let seen: Group[][] = [];
  const keyOf = (g: Group): string => JSON.stringify(g.labels);
  const isNewAndEmpty = (g: Group): boolean =>
    keyOf(g) === failureOnly && Object.keys(g.metrics).length === 0 && !expected.some((e) => keyOf(e) === failureOnly);
  try {
    await waitFor(
      async () => {
        seen = await Promise.all(backends.map((b) => b.groups()));
        return seen.every((held) =>
          same(
            held.filter((g) => !isNewAndEmpty(g)),
            expected,
          ),
        );
      },
      { what: 'both backends to hold the reference groups', timeoutMs: 5_000 },
    );
    return undefined;
  } catch {
    return `backends hold ${seen.map((held) => JSON.stringify(held)).join(' and ')}, the reference ${JSON.stringify(expected)}`;
  }
}

async function brokenScrapes(): Promise<string | undefined> {
  const wrong = (await Promise.all(backends.map((b) => checkScrape(b.url)))).filter((w) => w !== undefined);
  return wrong.length === 0 ? undefined : wrong.join('; ');
}

/**
 * Empties everything: the backends and the reference wiped, and pushring's index forgotten, so
 * that its next push rebuilds it from the (empty) backends, whatever a disagreement left in it.
 */
async function resetAll(): Promise<void> {
  await Promise.all([reference.wipe(), ...backends.map((b) => b.wipe())]);
  door.resetIndex();
}

/** What differs between the two answers to one step, or undefined. */
function compareAnswers(ref: Answer, ours: Answer): string | undefined {
  if (ref.status !== ours.status) return `status ${ref.status} against ${ours.status}`;
  if (statusClassOf(ref.status) === '4xx' && messageStartOf(ref.body) !== messageStartOf(ours.body)) {
    return `message start ${JSON.stringify(messageStartOf(ref.body))} against ${JSON.stringify(messageStartOf(ours.body))}`;
  }
  return undefined;
}

async function compareWithPushring(where: string, steps: readonly PushStep[]): Promise<Disagreement[]> {
  await resetAll();
  const history = new StepHistory();
  const found: Disagreement[] = [];
  // What both backends held after the last step: the reference's groups then.
  let before: Group[] = [];
  for (const [i, step] of steps.entries()) {
    const [applied, ours] = await Promise.all([applyToReference(reference.url, step), sendStep(door.url, step)]);
    const { answer } = applied;
    let { poisoned } = applied;
    if (poisoned === undefined && statusClassOf(answer.status) === '2xx' && statusClassOf(ours.status) === '4xx') {
      poisoned = await probeScrape(reference.url, ORDER_PROBES);
      if (poisoned === undefined && ORDER_DEPENDENT_BREAK.test(ours.body)) poisoned = 'a scrape it breaks in some map orders';
    }
    const disagree = (what: string): void => {
      const shown = formatAnswer(answer) + (poisoned === undefined ? '' : ` — then poisoned: ${poisoned}`);
      found.push({ where, step: i, request: describeStep(step), reference: shown, subject: formatAnswer(ours), what, before: history.list() });
    };
    let what: string | undefined;
    if (poisoned !== undefined) {
      if (statusClassOf(ours.status) !== '4xx') what = 'the reference was poisoned by a step pushring did not refuse';
      else {
        await Promise.all(backends.map(settle));
        // A push the reference accepted into a broken scrape pushring may refuse as it refuses any
        // push, recording the failure: then its group may be new, holding no family.
        const failureOnly = statusClassOf(answer.status) === '2xx' ? groupLabelsOf(step) : undefined;
        what = (await awaitBackends(before, failureOnly)) ?? (await brokenScrapes());
        if (what !== undefined) what = `pushring refused a poison push, yet: ${what}`;
      }
    } else {
      const expected = await reference.groups();
      what = compareAnswers(answer, ours) ?? (await awaitBackends(expected)) ?? (await brokenScrapes());
      before = expected;
    }
    if (what !== undefined) disagree(what);
    if (poisoned !== undefined || what !== undefined) {
      await resetAll();
      history.reset();
      before = [];
    } else {
      history.record(step, formatAnswer(answer));
    }
  }
  // Nothing may arrive late: once the backends applied everything, they still hold the reference's groups.
  await Promise.all(backends.map(settle));
  const last = (await awaitBackends(await reference.groups())) ?? (await brokenScrapes());
  if (last !== undefined) {
    found.push({ where, step: steps.length, request: '(after the last step)', reference: '', subject: '', what: last, before: history.list() });
  }
  return found;
}

describe('pushring judging in the front door agrees with a checked Pushgateway 1.5.1', () => {
  it.each(CONSISTENCY_CASES.map((c) => [c.name, c] as const))('corpus: %s', async (name, testCase) => {
    const found = await compareWithPushring(
      `corpus: ${name}`,
      testCase.steps.map((s) => s.step),
    );
    expect(found, formatDisagreements(found)).toEqual([]);
  });

  it.each(SEEDS)(`seed %d, ${STEPS_PER_SEED} steps`, async (seed) => {
    const found = await compareWithPushring(`seed ${seed}`, generateSequence(seed, STEPS_PER_SEED));
    expect(found, formatDisagreements(found)).toEqual([]);
  });
});
