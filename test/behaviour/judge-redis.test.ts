/**
 * Several front doors, one judge: two `pushring serve` processes sharing one Redis judge pushes
 * against the index kept there (judge.mode front-door, the default), over unchecked Pushgateways.
 * Conflicting pushes raced through the two front doors are never both stored, no backend's
 * scrape ever breaks, and while Redis is away pushes are refused, never judged on a guess.
 */
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/processes.js';
import { startPushgateway } from '../helpers/pushgateway.js';
import { useServeDoors } from '../helpers/serve-doors.js';

const doors = useServeDoors();

async function put(url: string, path: string, body: string): Promise<{ status: number; body: string; code: string | undefined }> {
  const res = await request(`${url}${path}`, { method: 'PUT', body, headers: { 'content-type': 'text/plain' } });
  const code = res.headers['x-pushring-error'];
  return { status: res.statusCode, body: await res.body.text(), code: typeof code === 'string' ? code : undefined };
}

async function scrapeStatus(url: string): Promise<number> {
  const res = await request(`${url}/metrics`);
  await res.body.dump();
  return res.statusCode;
}

async function startUnchecked(): Promise<void> {
  doors.backends.push(
    await startPushgateway({ args: ['--push.disable-consistency-check'] }),
    await startPushgateway({ args: ['--push.disable-consistency-check'] }),
  );
}

describe('two front doors judging through one Redis', () => {
  it('never stores both of two conflicting pushes raced through different front doors', async () => {
    await startUnchecked();
    const prefix = `race-${Date.now()}:`;
    const [a, b] = await Promise.all([doors.start(prefix, 0), doors.start(prefix, 0)]);
    const rounds = 60;
    const answers: Array<[number, number]> = [];
    for (let k = 0; k < rounds; k++) {
      // The same name as a gauge in one group and as a counter in another, at the same moment.
      const [viaA, viaB] = await Promise.all([
        put(a.url, `/metrics/job/race/instance/a${k}`, `# TYPE race_${k} gauge\nrace_${k} 1\n`),
        put(b.url, `/metrics/job/race/instance/b${k}`, `# TYPE race_${k} counter\nrace_${k} 2\n`),
      ]);
      answers.push([viaA.status, viaB.status]);
      for (const answer of [viaA, viaB]) {
        // A loser is refused as a checked Pushgateway refuses it, or asked to retry; never a 500.
        if (answer.status !== 200)
          expect(answer.status === 400 ? answer.body : answer.code).toMatch(/^pushed metrics are invalid or inconsistent|PUSHRING_JUDGE_BUSY/);
      }
    }
    for (const [viaA, viaB] of answers) expect(viaA === 200 && viaB === 200, `both stored: ${JSON.stringify(answers)}`).toBe(false);
    expect(answers.filter(([x, y]) => x === 200 || y === 200)).toHaveLength(rounds);

    // What the backends hold: one of each pair, the one that was answered 200, on both replicas.
    for (const backend of doors.backends) {
      await waitFor(
        async () => {
          const groups = await backend.groups();
          return answers.every(([viaA], k) => {
            const winner = viaA === 200 ? `a${k}` : `b${k}`;
            const loser = viaA === 200 ? `b${k}` : `a${k}`;
            const stored = (instance: string): boolean => groups.some((g) => g.labels.instance === instance && `race_${k}` in g.metrics);
            return stored(winner) && !stored(loser);
          });
        },
        { what: `${backend.url} to hold exactly the winner of every race`, timeoutMs: 10_000 },
      );
      expect(await scrapeStatus(backend.url)).toBe(200);
    }
  });

  it('builds the index again from the backends when Redis comes back empty, judging nothing meanwhile', async () => {
    await startUnchecked();
    const { url } = await doors.start(`lost-${Date.now()}:`, 0);
    expect((await put(url, '/metrics/job/lost/instance/a', '# TYPE lost_metric gauge\nlost_metric 1\n')).status).toBe(200);
    for (const backend of doors.backends) await waitFor(async () => (await backend.groups()).length === 1, { what: `${backend.url} to hold the group` });

    // Redis restarts without its data: the index is gone, the backends still hold the gauge.
    await doors.redis().restart();
    const conflicting = '# TYPE lost_metric counter\nlost_metric 2\n';
    let answer = await put(url, '/metrics/job/lost/instance/b', conflicting);
    await waitFor(
      async () => {
        answer = await put(url, '/metrics/job/lost/instance/b', conflicting);
        return answer.status !== 503;
      },
      { what: 'the front door to judge again once its index is rebuilt', timeoutMs: 15_000 },
    );
    // Judged against the rebuilt index: the backends' gauge is known again.
    expect(answer.status).toBe(400);
    expect(answer.body).toMatch(/^pushed metrics are invalid or inconsistent with existing metrics: /);
    for (const backend of doors.backends) expect(await scrapeStatus(backend.url)).toBe(200);
  });

  it('refuses pushes while Redis does not answer, stores none of them, and judges again once it does', async () => {
    await startUnchecked();
    const { url } = await doors.start(`outage-${Date.now()}:`, 0);
    expect((await put(url, '/metrics/job/outage/instance/before', 'outage_metric 1\n')).status).toBe(200);

    const redis = doors.redis();
    redis.process.stop();
    try {
      for (let i = 0; i < 3; i++) {
        const answer = await put(url, `/metrics/job/outage/instance/during${i}`, 'outage_metric 2\n');
        expect(answer).toMatchObject({ status: 503, code: 'PUSHRING_JUDGE_UNAVAILABLE' });
      }
    } finally {
      redis.process.cont();
    }
    await waitFor(async () => (await put(url, '/metrics/job/outage/instance/after', 'outage_metric 3\n')).status === 200, {
      what: 'pushes to be judged again once Redis answers',
      timeoutMs: 10_000,
    });
    for (const backend of doors.backends) {
      await waitFor(async () => (await backend.groups()).some((g) => g.labels.instance === 'after'), {
        what: `${backend.url} to hold the push after the outage`,
      });
      const instances = (await backend.groups()).map((g) => g.labels.instance);
      expect(instances.filter((i) => i?.startsWith('during'))).toEqual([]);
      expect(await scrapeStatus(backend.url)).toBe(200);
    }
  });
});
