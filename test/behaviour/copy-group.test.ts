/**
 * The reconciler's copy of a group (writeCopy) against real Pushgateways, with and without the
 * consistency check: the target ends up holding the same families and the same verdict on the
 * group's last push as the source, although every time on it is the copy's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/backends/client.js';
import type { ApiGroup } from '../../src/core/exposition.js';
import { writeCopy } from '../../src/reconcile/copy-group.js';
import { waitFor } from '../helpers/processes.js';
import { normaliseGroups, rawGroups, startPushgateway, type Pushgateway, type RawGroup } from '../helpers/pushgateway.js';

const BODY = '# TYPE batch_duration_seconds gauge\nbatch_duration_seconds 3\n# HELP files Files written.\n# TYPE files counter\nfiles{disk="a"} 7\n';
// A sample with a timestamp: every Pushgateway refuses the push and records its failure time.
const REFUSED = 'batch_duration_seconds 4 1000\n';

function timeOf(group: RawGroup, family: string): number {
  const metrics = (group[family] as { metrics?: Array<{ value?: string }> } | undefined)?.metrics;
  return Number(metrics?.[0]?.value ?? 'NaN');
}

async function groupOf(gateway: Pushgateway, job: string): Promise<RawGroup | undefined> {
  return (await rawGroups(gateway.url)).find((g) => (g['labels'] as Record<string, string>)['job'] === job);
}

/** The group once `ready` holds for it (writes to an unchecked Pushgateway are applied later). */
async function waitForGroup(gateway: Pushgateway, job: string, what: string, ready: (g: RawGroup) => boolean): Promise<RawGroup> {
  return waitFor(
    async () => {
      const group = await groupOf(gateway, job);
      return group !== undefined && ready(group) ? group : undefined;
    },
    { what },
  );
}

const families = (group: RawGroup) => normaliseGroups([group])[0]!.metrics;

for (const [mode, args] of [
  ['checked', []],
  ['unchecked', ['--push.disable-consistency-check']],
] as const) {
  describe(`writeCopy to a ${mode} Pushgateway`, () => {
    let source: Pushgateway;
    let target: Pushgateway;
    let backend: Backend;
    beforeAll(async () => {
      [source, target] = await Promise.all([startPushgateway({ args: [...args] }), startPushgateway({ args: [...args] })]);
      backend = new Backend({
        shard: 's0',
        replica: '1',
        url: target.url,
        connections: 2,
        connectTimeoutMs: 2_000,
        timeoutMs: 5_000,
        probeTimeoutMs: 1_000,
        upAfterProbes: 1,
      });
    });
    afterAll(async () => {
      await backend?.close();
      await Promise.all([source?.close(), target?.close()]);
    });

    const push = async (method: 'PUT' | 'POST', job: string, body: string) => {
      const res = await fetch(`${source.url}/metrics/job/${job}`, { method, body });
      await res.body?.cancel();
      return res.status;
    };

    it("copies a group whose last push failed: the same families, and the target's last push failed too", async () => {
      expect(await push('PUT', 'failing', BODY)).toBeLessThan(300);
      expect([400, 202]).toContain(await push('POST', 'failing', REFUSED));
      const original = await waitForGroup(source, 'failing', 'the refusal on the source', (g) => g['last_push_successful'] === false);
      await writeCopy(backend, original as unknown as ApiGroup);
      const copy = await waitForGroup(target, 'failing', 'a copy whose last push failed', (g) => g['last_push_successful'] === false);
      expect(families(copy)).toEqual(families(original));
      expect(timeOf(copy, 'push_failure_time_seconds')).toBeGreaterThan(timeOf(copy, 'push_time_seconds'));
      // Stamped by the target: the copy's times, never older than the original's.
      expect(timeOf(copy, 'push_time_seconds')).toBeGreaterThan(timeOf(original, 'push_time_seconds'));
    });

    it('copies a group whose last push succeeded after a refusal as a group whose last push succeeded', async () => {
      expect([400, 202]).toContain(await push('POST', 'recovered', REFUSED));
      await waitForGroup(source, 'recovered', 'the refusal on the source', (g) => g['last_push_successful'] === false);
      expect(await push('PUT', 'recovered', BODY)).toBeLessThan(300);
      const original = await waitForGroup(source, 'recovered', 'the success on the source', (g) => g['last_push_successful'] === true && 'files' in g);
      await writeCopy(backend, original as unknown as ApiGroup);
      const copy = await waitForGroup(target, 'recovered', 'the copy', (g) => 'files' in g);
      expect(copy['last_push_successful']).toBe(true);
      expect(families(copy)).toEqual(families(original));
    });

    it('recreates a group that only a refused push created, without the families the target held', async () => {
      expect([400, 202]).toContain(await push('POST', 'never-stored', REFUSED));
      const original = await waitForGroup(source, 'never-stored', 'the group the refusal created', () => true);
      expect(timeOf(original, 'push_time_seconds')).toBe(0);
      const held = await fetch(`${target.url}/metrics/job/never-stored`, { method: 'PUT', body: BODY });
      await held.body?.cancel();
      await waitForGroup(target, 'never-stored', 'the stale group on the target', (g) => 'files' in g);
      await writeCopy(backend, original as unknown as ApiGroup);
      const copy = await waitForGroup(target, 'never-stored', 'the recreated group', (g) => !('files' in g) && g['last_push_successful'] === false);
      expect(timeOf(copy, 'push_time_seconds')).toBe(0);
      expect(families(copy)).toEqual(families(original));
    });
  });
}
