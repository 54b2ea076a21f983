import { describe, expect, it } from 'vitest';
import { makeGroupingKey, parseGroupingPath } from '../../src/core/grouping-key.js';
import { createBodyJudge } from '../../src/http/judging.js';
import { validated } from '../helpers/config.js';

const config = validated({ shards: [{ name: 'a', replicas: ['http://127.0.0.1:1'] }], judge: { mode: 'backends', maxFamilies: 2 } }).judge;
const key = (labels: Record<string, string>) => makeGroupingKey(new Map(Object.entries({ job: 'j', ...labels })));
const parsedKey = (path: string) => {
  const parsed = parseGroupingPath(path);
  if (!parsed.ok) throw new Error(path);
  return parsed.key;
};
const request = (body: string, headers: Record<string, string> = {}) => ({ method: 'PUT', headers, body: Buffer.from(body) });

describe('the body step with judge.mode backends', () => {
  const judge = createBodyJudge(config, undefined);

  it('lets a valid push through to the backends', async () => {
    expect(await judge.judge(key({}), 'PUT', request('m 1\n'))).toMatchObject({ kind: 'write' });
  });

  it.each([
    ['an empty instance grouping label', key({ instance: '' }), 'm 1\n', /"instance" is empty/],
    ['a grouping label value that is not UTF-8', parsedKey('/metrics/job/j/a@base64/_w'), 'm 1\n', /"a" is not UTF-8/],
    ['a pushed push_failure_time_seconds', key({}), 'push_failure_time_seconds 1\n', /push_failure_time_seconds/],
    [
      'a family the Pushgateway creates on first use, with another help',
      key({}),
      '# HELP pushgateway_http_push_size_bytes mine\n# TYPE pushgateway_http_push_size_bytes summary\npushgateway_http_push_size_bytes_sum 1\npushgateway_http_push_size_bytes_count 1\n',
      /pushgateway_http_push_size_bytes/,
    ],
  ])('refuses a poison push: %s', async (_name, groupKey, body, reason) => {
    const judged = await judge.judge(groupKey, 'PUT', request(body));
    expect(judged).toMatchObject({ kind: 'refused', refusal: { code: 'PUSHRING_POISON_PUSH' } });
    if (judged.kind === 'refused' && judged.refusal.code === 'PUSHRING_POISON_PUSH') expect(judged.refusal.context.reason).toMatch(reason);
  });

  it("answers a body the Pushgateway's parser refuses with its 400, newline included", async () => {
    expect(await judge.judge(key({}), 'PUT', request('not a metric\n'))).toMatchObject({
      kind: 'pushgateway',
      status: 400,
      body: expect.stringMatching(/^text format parsing error in line 1: .*\n$/),
    });
  });

  it('refuses a body past a bound with 413 PUSHRING_BODY_LIMIT, naming the bound', async () => {
    expect(await judge.judge(key({}), 'PUT', request('a 1\nb 1\nc 1\n'))).toMatchObject({
      kind: 'refused',
      refusal: { code: 'PUSHRING_BODY_LIMIT', context: { limit: 'maxFamilies', max: 2 } },
    });
  });
});
