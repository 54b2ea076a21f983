/**
 * The contract every SuspectStore keeps (its doc comment in src/reconcile/suspects.ts), run on
 * each implementation by test/behaviour/store-contracts.test.ts. Times are plain numbers: the
 * store compares the times it is given and reads no clock.
 */
import { describe, expect, it } from 'vitest';
import type { SuspectStore } from '../../src/reconcile/suspects.js';
import { waitFor } from '../helpers/processes.js';
import type { ContractOptions, Make } from './fixture.js';

let unique = 0;
/** A replica id no other test uses (stores may share one Redis). */
const replica = (): string => `s${++unique}/1`;

/** Refreshes `store` until `replica` is seen suspect since `since` (another store's write lands when it lands). */
const seenBy = async (store: SuspectStore, replica: string, since: number): Promise<void> => {
  await waitFor(
    async () => {
      await store.refresh!();
      return store.since(replica) === since;
    },
    { what: `${replica} to be seen suspect since ${since} (seen: ${store.since(replica)})`, timeoutMs: 10_000, intervalMs: 10 },
  );
};

export function describeSuspectStoreContract(name: string, makeStore: Make<[], SuspectStore>, options: ContractOptions<[], SuspectStore> = {}): void {
  describe(`${name} keeps the suspect-store contract`, () => {
    it('trusts a replica until it is marked, then holds it suspect since its mark', () => {
      const store = makeStore();
      const r = replica();
      expect(store.since(r)).toBeUndefined();
      expect(store.count()).toBe(0);
      store.mark(r, 100);
      expect(store.since(r)).toBe(100);
      expect(store.count()).toBe(1);
    });

    it('starts an incident at its earliest mark, whatever order the marks arrive in', () => {
      const store = makeStore();
      const r = replica();
      store.mark(r, 200);
      store.mark(r, 100);
      store.mark(r, 300);
      expect(store.since(r)).toBe(100);
    });

    it('counts each suspect replica once', () => {
      const store = makeStore();
      const [one, two] = [replica(), replica()];
      store.mark(one, 1);
      store.mark(one, 2);
      store.mark(two, 3);
      expect(store.count()).toBe(2);
    });

    it('clears a replica whose latest mark is older than the pass', () => {
      const store = makeStore();
      const [one, two] = [replica(), replica()];
      store.mark(one, 100);
      store.mark(two, 100);
      store.clear(one, 101);
      expect(store.since(one)).toBeUndefined();
      expect(store.since(two)).toBe(100);
      expect(store.count()).toBe(1);
    });

    it('keeps a replica marked at or after the pass started, even by a mark that arrives out of order', () => {
      const store = makeStore();
      const [atStart, after, late] = [replica(), replica(), replica()];
      store.mark(atStart, 150);
      store.mark(after, 100);
      store.mark(after, 160);
      store.mark(late, 200);
      store.mark(late, 100);
      for (const r of [atStart, after, late]) store.clear(r, 150);
      expect([store.since(atStart), store.since(after), store.since(late)]).toEqual([150, 100, 100]);
    });

    it('starts a new incident with the first mark after a clear', () => {
      const store = makeStore();
      const r = replica();
      store.mark(r, 100);
      store.clear(r, 150);
      store.mark(r, 300);
      expect(store.since(r)).toBe(300);
    });

    it('ignores a clear of a replica that is not suspect', () => {
      const store = makeStore();
      const [marked, other] = [replica(), replica()];
      store.mark(marked, 100);
      store.clear(other, 200);
      expect(store.since(other)).toBeUndefined();
      expect(store.count()).toBe(1);
    });

    if (options.sharing !== undefined) {
      const sharing = options.sharing;

      it('shows the reconciler, at refresh, the marks every front door made', async () => {
        const make = sharing();
        const [door, reconciler] = [make(), make()];
        const [one, two] = [replica(), replica()];
        door.mark(one, 100);
        reconciler.mark(two, 200);
        await seenBy(reconciler, one, 100);
        expect(reconciler.since(two)).toBe(200);
        expect(reconciler.count()).toBe(2);
      });

      it('merges two front doors’ marks of one replica: the earliest starts the incident', async () => {
        const make = sharing();
        const [one, two, reader] = [make(), make(), make()];
        const r = replica();
        one.mark(r, 300);
        await seenBy(reader, r, 300);
        two.mark(r, 100);
        await seenBy(reader, r, 100);
      });

      it('keeps a replica that another front door marked after the pass started, even with a mark that arrived later and older', async () => {
        const make = sharing();
        const [door, reconciler, reader] = [make(), make(), make()];
        const r = replica();
        door.mark(r, 300);
        await seenBy(reader, r, 300);
        // The reconciler's own mark is older than the pass; the shared record's latest is not.
        reconciler.mark(r, 100);
        reconciler.clear(r, 250);
        expect(reconciler.since(r)).toBeUndefined();
        await reconciler.refresh!();
        expect(reconciler.since(r)).toBe(100);
      });

      it('clears the shared record for every front door, and a refresh keeps a mark this front door made since its previous refresh', async () => {
        const make = sharing();
        const [door, reconciler, newcomer] = [make(), make(), make()];
        const r = replica();
        door.mark(r, 100);
        await seenBy(reconciler, r, 100);
        reconciler.clear(r, 150);
        // Each store has one connection: its refresh is answered after its clear is applied.
        await reconciler.refresh!();
        expect(reconciler.since(r)).toBeUndefined();
        await newcomer.refresh!();
        expect(newcomer.since(r)).toBeUndefined();
        await door.refresh!();
        expect(door.since(r)).toBe(100);
      });

      it('forgets a mark this front door made once the shared record no longer has it and a refresh has passed since', async () => {
        const make = sharing();
        const [door, reconciler] = [make(), make()];
        const r = replica();
        door.mark(r, 100);
        await seenBy(reconciler, r, 100);
        reconciler.clear(r, 150);
        await reconciler.refresh!();
        // The first refresh after the mark keeps it: the mark may still be on its way to the store.
        await door.refresh!();
        expect(door.since(r)).toBe(100);
        await door.refresh!();
        expect(door.since(r)).toBeUndefined();
        expect(door.count()).toBe(0);
      });

      it('takes, at refresh, the incident the shared record holds over an earlier one this front door saw end', async () => {
        const make = sharing();
        const [door, reconciler, other] = [make(), make(), make()];
        const r = replica();
        door.mark(r, 100);
        await seenBy(reconciler, r, 100);
        reconciler.clear(r, 150);
        await reconciler.refresh!();
        await door.refresh!();
        other.mark(r, 300);
        await seenBy(reconciler, r, 300);
        await door.refresh!();
        expect(door.since(r)).toBe(300);
      });
    }

    if (options.outage !== undefined) {
      const outage = options.outage;

      it('while the store is unreachable, marks and clears here and rejects refresh; once it is back, the marks made meanwhile reach the others', async () => {
        const fixture = await outage();
        const [door, reconciler] = [fixture.make(), fixture.make()];
        const [missed, cleared] = [replica(), replica()];
        await fixture.down();
        expect(() => door.mark(missed, 100)).not.toThrow();
        door.mark(cleared, 100);
        expect(() => door.clear(cleared, 200)).not.toThrow();
        expect([door.since(missed), door.since(cleared), door.count()]).toEqual([100, undefined, 1]);
        await expect(door.refresh!()).rejects.toThrow();
        expect(door.since(missed)).toBe(100);
        await fixture.up();
        // Nothing new was marked: the mark made while Redis was gone is sent again by itself.
        await seenBy(reconciler, missed, 100);
        expect(reconciler.since(cleared)).toBeUndefined();
      });
    }
  });
}
