/**
 * The corpus of push bodies (test/corpus/push-bodies.ts), each pushed to a fresh group of a real
 * checked Pushgateway 1.5.1 and parsed by pushring (inflateBody, then parsePushBody): the
 * Pushgateway refuses a body at parse time exactly when pushring's parser calls it invalid, with
 * the same 400 body, and stores nothing; for a body its parser accepts, either its check refuses
 * it (the corpus says so: the judge's business) or the group it stores has the families pushring
 * parsed — names, types, help, label sets once the group's labels are applied.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePushBody } from '../../src/core/parse-push-body.js';
import type { BodyLimits, ParsedBody, PushedFamily } from '../../src/core/push-body.js';
import { inflateBody } from '../../src/http/inflate.js';
import { CORPUS, type CorpusBody } from '../corpus/push-bodies.js';
import { rawGroups, startPushgateway, type JsonValue, type Pushgateway, type RawGroup } from '../helpers/pushgateway.js';

const JOB = 'corpus';
const LIMITS: BodyLimits = { maxFamilies: 1000, maxSeries: 10_000, maxLabelsPerSeries: 100, maxStringBytes: 10_000 };
const BOOKKEEPING = new Set(['labels', 'last_push_successful', 'push_time_seconds', 'push_failure_time_seconds']);

let pgw: Pushgateway;

beforeAll(async () => {
  pgw = await startPushgateway();
});
afterAll(async () => {
  await pgw?.close();
});

function parseAsPushring(c: CorpusBody): ParsedBody {
  const inflated = inflateBody(c.body, c.contentEncoding, 64 << 20);
  if (!inflated.ok) return inflated.kind === 'invalid' ? inflated : { ok: false, kind: 'too-large', limit: 'maxStringBytes', max: inflated.max };
  return parsePushBody(inflated.body, c.contentType, LIMITS, inflated.streamError);
}

interface FamilyView {
  name: string;
  type: string;
  help: string;
  labelSets: string[];
}

/** What /api/v1/metrics shows of a family: Go's JSON turns each invalid UTF-8 byte into U+FFFD. */
function viewOf(family: PushedFamily): FamilyView {
  const labelSets = family.metrics.map((m) => {
    const labels = new Map<string, string>();
    for (const [name, value] of m.labels) if (!labels.has(name)) labels.set(name, value);
    // The Pushgateway's sanitizeLabels: grouping labels win, instance="" when absent.
    labels.set('job', JOB);
    if (!labels.has('instance')) labels.set('instance', '');
    return JSON.stringify([...labels].sort(([a], [b]) => (a < b ? -1 : 1)));
  });
  return {
    name: family.name,
    type: family.unknownType === undefined ? family.type : String(family.unknownType),
    help: family.help.replace(/[\udc80-\udcff]/g, '\ufffd'),
    labelSets: labelSets.sort(),
  };
}

function viewsOfGroup(group: RawGroup): FamilyView[] {
  const views: FamilyView[] = [];
  for (const [name, raw] of Object.entries(group)) {
    if (BOOKKEEPING.has(name)) continue;
    const f = raw as { type: string; help?: string; metrics: { labels: Record<string, string> }[] };
    views.push({
      name,
      type: f.type,
      help: f.help ?? '',
      labelSets: f.metrics.map((m) => JSON.stringify(Object.entries(m.labels).sort(([a], [b]) => (a < b ? -1 : 1)))).sort(),
    });
  }
  return views.sort((a, b) => (a.name < b.name ? -1 : 1));
}

async function storedGroup(): Promise<RawGroup | undefined> {
  return (await rawGroups(pgw.url)).find((g) => (g['labels'] as Record<string, JsonValue>)['job'] === JOB);
}

async function push(c: CorpusBody): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = {};
  if (c.contentType !== undefined) headers['content-type'] = c.contentType;
  if (c.contentEncoding !== undefined) headers['content-encoding'] = c.contentEncoding;
  const res = await fetch(`${pgw.url}/metrics/job/${JOB}`, { method: 'PUT', body: c.body, headers });
  return { status: res.status, body: await res.text() };
}

describe('pushring parses every push body as a checked Pushgateway 1.5.1 does', () => {
  it('the corpus has at least 60 bodies sent to the Pushgateway', () => {
    expect(CORPUS.filter((c) => c.parserOnly === undefined).length).toBeGreaterThanOrEqual(60);
  });

  it.each(CORPUS.filter((c) => c.parserOnly === undefined))('$name', async (c) => {
    await pgw.wipe();
    const ours = parseAsPushring(c);
    const answer = await push(c);
    if (!ours.ok) {
      expect(ours.kind, JSON.stringify(ours)).toBe('invalid');
      expect(answer).toEqual({ status: 400, body: (ours as { message: string }).message + '\n' });
      expect(await storedGroup(), 'a body refused at parse time creates no group').toBeUndefined();
      return;
    }
    if (c.check !== undefined) {
      expect(answer.status, answer.body).toBe(400);
      expect(answer.body.startsWith(c.check), answer.body).toBe(true);
      return;
    }
    expect(answer, 'the Pushgateway accepts what pushring parsed').toEqual({ status: 200, body: '' });
    const group = await storedGroup();
    expect(group, 'the accepted push stored its group').toBeDefined();
    const parsed = ours.families.map(viewOf).sort((a, b) => (a.name < b.name ? -1 : 1));
    expect(viewsOfGroup(group!)).toEqual(parsed);
  });

  it.each(CORPUS.filter((c) => c.parserOnly !== undefined))('$name: refused by the parser alone, never sent', (c) => {
    expect(parseAsPushring(c)).toEqual({ ok: false, kind: 'invalid', message: c.parserOnly!.message });
  });
});
