/**
 * The contract every ring-change store keeps (src/reconcile/change-store.ts): run against the
 * memory store and the Redis store with a real redis-server.
 */
import { describe, expect, it } from 'vitest';
import type { Beat, ChangeRecord, Published } from '../../src/core/ring-change.js';
import type { ChangeStore } from '../../src/reconcile/change-store.js';
import { waitFor } from '../helpers/processes.js';
import type { ContractOptions, Make } from './fixture.js';

const shards = [{ name: 'a', replicas: ['http://127.0.0.1:1'], weight: 1, draining: false }];
const record = (id: string, settled = false): ChangeRecord => ({ id, from: 'A', to: 'B', fromShards: shards, toShards: shards, settled, base: 'x0' });
const published = (version: string): Published => ({ version, shards, previous: 'P', closed: 'x0' });

/**
 * Every test takes two stores over one fresh state: two front doors sharing one Redis (`sharing`),
 * or the same store twice where the state is one process's.
 */
export function describeChangeStoreContract(name: string, make: Make<[], ChangeStore>, options: ContractOptions<[], ChangeStore> = {}): void {
  const makeStores = (): [ChangeStore, ChangeStore] => {
    if (options.sharing === undefined) {
      const store = make();
      return [store, store];
    }
    const shared = options.sharing();
    return [shared(), shared()];
  };
  describe(`${name} keeps the ring-change store contract`, () => {
    it('stores a record and gives it back whole, to every front door', async () => {
      const [one, two] = makeStores();
      expect(await one.readRecord()).toBeUndefined();
      await one.writeRecord(record('x1'), false);
      expect(await two.readRecord()).toEqual(record('x1'));
      await two.writeRecord(record('x1', true), false);
      expect(await one.readRecord()).toEqual(record('x1', true));
      await one.deleteRecord();
      expect(await two.readRecord()).toBeUndefined();
    });

    it('records a change only if none is recorded when asked to: the first front door wins', async () => {
      const [one, two] = makeStores();
      await Promise.all([one.writeRecord(record('first'), true), two.writeRecord(record('second'), true)]);
      const winner = await one.readRecord();
      expect(['first', 'second']).toContain(winner?.id);
      await two.writeRecord(record('third'), true);
      expect(await two.readRecord()).toEqual(winner);
    });

    it('publishes a ring, only if none is published when asked to, and overwrites it when not', async () => {
      const [one, two] = makeStores();
      expect(await one.readPublished()).toBeUndefined();
      await one.publish(published('A'), true);
      await two.publish(published('B'), true);
      expect(await two.readPublished()).toEqual(published('A'));
      await two.publish(published('B'), false);
      expect(await one.readPublished()).toEqual(published('B'));
    });

    it('hands out copies: changing what a read returned changes nothing stored', async () => {
      const [one] = makeStores();
      await one.writeRecord(record('x1'), false);
      const read = (await one.readRecord()) as { settled: boolean };
      read.settled = true;
      expect((await one.readRecord())?.settled).toBe(false);
    });

    it("keeps one heartbeat per front door, the latest, until its time in the store's clock", async () => {
      const [one, two] = makeStores();
      const now = await one.now();
      const beat = (version: string, until: number): Beat => ({ version, phase: 'dual', dualReady: true, until });
      await one.writeBeat('fd1', beat('A', now + 60_000));
      await one.writeBeat('fd1', beat('B', now + 60_000));
      await two.writeBeat('fd2', beat('B', now + 60_000));
      expect((await one.readBeats()).map((b) => b.version).sort()).toEqual(['B', 'B']);
      await two.removeBeat('fd2');
      expect(await one.readBeats()).toEqual([beat('B', now + 60_000)]);
      // One that stops beating stops counting once its time has passed.
      await two.writeBeat('fd3', beat('C', (await two.now()) + 50));
      await waitFor(async () => (await one.readBeats()).every((b) => b.version !== 'C'), {
        what: 'an expired heartbeat to stop counting',
        timeoutMs: 5_000,
        intervalMs: 10,
      });
      expect(await two.readBeats()).toEqual([beat('B', now + 60_000)]);
    });

    it('tells time in one clock for every front door', async () => {
      const [one, two] = makeStores();
      const [a, b] = [await one.now(), await two.now()];
      expect(Math.abs(a - b)).toBeLessThan(60_000);
      expect(a).toBeGreaterThan(Date.UTC(2020, 0, 1));
    });
  });
}
