/**
 * src/core/pushgateway-own.ts against the real binary: the table is what a fresh Pushgateway
 * exposes itself, and what the judge derives from it (help compared only for families created
 * after the start, types always) is what a checked Pushgateway answers.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeGroupingKey } from '../../src/core/grouping-key.js';
import { judgeWrite } from '../../src/core/judge.js';
import { VALUE_SUMMARY } from '../../src/core/push-body.js';
import { PUSHGATEWAY_OWN_FAMILIES } from '../../src/core/pushgateway-own.js';
import { generateTable, TABLE_PATH } from '../../scripts/pushgateway-own-metrics.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';

describe('the Pushgateway’s own families', () => {
  it('one created on first use, pushed first with its own name and other help: accepted, then every scrape fails; the judge refuses it', async () => {
    const pgw = await startPushgateway();
    try {
      // The helper waited on /-/ready only: no push has been served, so this family does not exist yet.
      const body =
        '# HELP pushgateway_http_push_duration_seconds mine\n# TYPE pushgateway_http_push_duration_seconds summary\n' +
        'pushgateway_http_push_duration_seconds_sum{method="x"} 1\npushgateway_http_push_duration_seconds_count{method="x"} 1\n';
      expect(await push(pgw, 'PUT', '/metrics/job/early', body)).toBe(200);
      expect((await fetch(pgw.url + '/metrics')).status).toBe(500);
      expect(await push(pgw, 'PUT', '/metrics/job/later', 'later 1\n')).toBe(400);

      const key = makeGroupingKey(new Map([['job', 'early']]));
      const verdict = judgeWrite(
        {
          group: key.canonical,
          labels: key.labels,
          method: 'PUT',
          families: [
            {
              name: 'pushgateway_http_push_duration_seconds',
              help: 'mine',
              type: 'SUMMARY',
              metrics: [{ labels: [['method', 'x']], values: VALUE_SUMMARY, hasTimestamp: false }],
            },
          ],
        },
        () => undefined,
        { maxSeries: 100 },
      );
      expect(verdict).toMatchObject({ ok: false, kind: 'inconsistent' });
    } finally {
      await pgw.close();
    }
  });

  it('the committed table equals what the binary exposes (regenerate with npx tsx scripts/pushgateway-own-metrics.ts)', async () => {
    expect(await generateTable()).toBe(readFileSync(TABLE_PATH, 'utf8'));
  });

  describe('pushed under their names to a checked Pushgateway', () => {
    let pgw: Pushgateway;
    beforeAll(async () => {
      pgw = await startPushgateway();
      // Every instrumented handler once, so that the families created on first use exist.
      for (const method of ['PUT', 'POST']) await push(pgw, method, '/metrics/job/warm-up', 'warm_up 1\n');
    });
    afterAll(async () => {
      await pgw?.close();
    });

    const sample = (name: string, type: string): string => (type === 'SUMMARY' || type === 'HISTOGRAM' ? `${name}_sum 1\n${name}_count 1\n` : `${name} 1\n`);

    it('a family of another type is refused, its own type with other help only where it was created later', async () => {
      const outcomes: Record<string, [number, number]> = {};
      const expected: Record<string, [number, number]> = {};
      for (const [name, own] of PUSHGATEWAY_OWN_FAMILIES) {
        const other = own.type === 'GAUGE' ? 'counter' : 'gauge';
        const wrongType = await push(pgw, 'PUT', `/metrics/job/own-type`, `# TYPE ${name} ${other}\n${name} 1\n`);
        const otherHelp = await push(
          pgw,
          'PUT',
          `/metrics/job/own-help`,
          `# HELP ${name} not the help\n# TYPE ${name} ${own.type.toLowerCase()}\n${sample(name, own.type)}`,
        );
        outcomes[name] = [wrongType, otherHelp];
        expected[name] = [400, own.presentAtStart ? 200 : 400];
      }
      expect(outcomes).toEqual(expected);
    });
  });
});

async function push(pgw: Pushgateway, method: string, path: string, body: string): Promise<number> {
  const res = await fetch(pgw.url + path, { method, body });
  await res.text();
  return res.status;
}
