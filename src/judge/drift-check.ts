/**
 * The reconciler's check of the judge's index against the backends (core/drift.ts decides).
 * While a pass reads every replica, it is shown each group; afterwards the index's records are
 * compared with what the replicas imply, and a lasting disagreement is repaired and counted.
 *
 * Memory: per group of the ring, one digest per replica holding it and the replica with its
 * newest push; the disagreements waiting for confirmation are bounded (MAX_PENDING), and so are the
 * repairs of one pass (MAX_REPAIRS: the rest wait for the next pass).
 */
import { hash } from 'node:crypto';
import type { Backend } from '../backends/client.js';
import { decideDrift, type PendingDrift } from '../core/drift.js';
import { pushRecordOf, type ApiGroup } from '../core/exposition.js';
import { GROUP_FIELD_PREFIX, forgetGroup, restoreGroup, storedGroupOf, type StoredGroup } from '../core/judge.js';
import { readGroups } from '../reconcile/read.js';
import type { IndexStore } from './index-store.js';
import type { Judge } from './judge-service.js';

export const MAX_PENDING = 10_000;
export const MAX_REPAIRS = 1_000;
const READ_BATCH = 500;
const SCAN_BATCH = 1_000;

export interface DriftReport {
  /** Groups the index lacked and the backends hold: added. */
  readonly added: number;
  /** Records no replica matched for longer than a write stays in flight: replaced by the newest replica's. */
  readonly replaced: number;
  /** Records of groups no replica holds any more, for as long: removed. */
  readonly removed: number;
  /** Disagreements still waiting for confirmation. */
  readonly pending: number;
}

export interface DriftCheck {
  /** A pass begins reading the backends, at `readAt`. */
  begin(readAt: number): void;
  /** A group one replica holds, as the pass read it. */
  see(backend: Backend, group: ApiGroup): void;
  /** A replica that could not be read this pass: no group is called gone on its account. */
  unread(backend: Backend): void;
  /** After the pass's reads: compares, repairs, reports. */
  finish(now: number): Promise<DriftReport>;
}

interface Seen {
  digests: string[];
  newest: Backend;
  newestPush: number;
}

export function createDriftCheck(options: {
  store: IndexStore;
  judge: Pick<Judge, 'buildIndex'>;
  lagMs: number;
  /** The least time between two checks; a pass sooner than that checks nothing. */
  minIntervalMs?: number;
}): DriftCheck {
  const { store, judge, lagMs } = options;
  const minIntervalMs = options.minIntervalMs ?? 0;
  let active = false;
  let lastCheck = -Infinity;
  const pending = new Map<string, PendingDrift>();
  let seen = new Map<string, Seen>();
  let complete = true;
  let readAt = 0;

  const digestOf = (record: string): string => hash('sha1', record, 'base64');

  return {
    begin(at) {
      active = at - lastCheck >= minIntervalMs;
      if (!active) return;
      lastCheck = at;
      seen = new Map();
      complete = true;
      readAt = at;
    },
    see(backend, api) {
      if (!active) return;
      const stored = storedGroupOf(api);
      const record = recordOf(stored);
      // A group inconsistent in itself is the healer's (reconcile/heal.ts), not the index's.
      if (record === undefined) return;
      const { pushTime } = pushRecordOf(api);
      const entry = seen.get(stored.group);
      if (entry === undefined) {
        seen.set(stored.group, { digests: [digestOf(record)], newest: backend, newestPush: pushTime });
        return;
      }
      entry.digests.push(digestOf(record));
      if (pushTime > entry.newestPush) {
        entry.newest = backend;
        entry.newestPush = pushTime;
      }
    },
    unread() {
      complete = false;
    },
    async finish(now) {
      if (!active) return { added: 0, replaced: 0, removed: 0, pending: pending.size };
      active = false;
      const toRestore = new Map<Backend, Set<string>>();
      /** The record each replaced group was confirmed to hold: a push committed since wins. */
      const toReplace = new Map<string, string>();
      const toForget: Array<[string, string]> = [];
      let repairs = 0;
      const looked = new Set<string>();
      const look = (group: string, record: string | undefined, entry: Seen | undefined): void => {
        looked.add(group);
        const held = entry?.digests ?? [];
        const action = decideDrift({ record: record === undefined ? undefined : digestOf(record), held, complete, readAt }, pending.get(group), now, lagMs);
        if (action.kind === 'agree') {
          pending.delete(group);
          return;
        }
        if (action.kind === 'wait') {
          if (pending.has(group) || pending.size < MAX_PENDING) pending.set(group, action.pending);
          return;
        }
        // Adds are bounded by the ring itself (they only make the judge stricter): never held back.
        if (action.kind !== 'add') {
          if (repairs >= MAX_REPAIRS) return;
          repairs++;
        }
        pending.delete(group);
        if (action.kind === 'forget') {
          toForget.push([group, record!]);
          return;
        }
        if (action.kind === 'replace') toReplace.set(group, record!);
        const source = entry!.newest;
        let wanted = toRestore.get(source);
        if (wanted === undefined) toRestore.set(source, (wanted = new Set()));
        wanted.add(group);
      };

      // The records of the groups the replicas hold, a batch at a time.
      const groups = [...seen.keys()];
      for (let i = 0; i < groups.length; i += READ_BATCH) {
        const batch = groups.slice(i, i + READ_BATCH);
        const records = await store.read(batch.map((g) => GROUP_FIELD_PREFIX + g));
        batch.forEach((group, j) => look(group, records[j], seen.get(group)));
      }
      // The records of groups no replica holds.
      let cursor = '0';
      do {
        const page = await store.scan(GROUP_FIELD_PREFIX, cursor, SCAN_BATCH);
        cursor = page.cursor;
        for (const [field, record] of page.entries) {
          const group = field.slice(GROUP_FIELD_PREFIX.length);
          if (!seen.has(group)) look(group, record, undefined);
        }
      } while (cursor !== '0');

      // A disagreement about a group neither side holds any more is forgotten with it.
      for (const group of pending.keys()) if (!looked.has(group)) pending.delete(group);
      seen = new Map();

      let added = 0;
      let replaced = 0;
      for (const [backend, wanted] of toRestore) {
        const texts = await readGroups(backend, wanted).catch(() => new Map<string, string>());
        const stored = [...texts.values()].map((text) => storedGroupOf(JSON.parse(text) as ApiGroup));
        const adds = stored.filter((s) => !toReplace.has(s.group));
        const replaces = stored.filter((s) => toReplace.has(s.group));
        added += (await judge.buildIndex(iterate(adds), { onlyAbsent: true })).changed;
        replaced += (await judge.buildIndex(iterate(replaces), { expected: toReplace })).changed;
      }
      let removed = 0;
      for (const [group, record] of toForget) {
        if (await store.commit(forgetGroup(group, record))) removed++;
      }
      return { added, replaced, removed, pending: pending.size };
    },
  };
}

/** The record the index holds of `stored` when it holds it as the backend does; undefined when the group is inconsistent in itself. */
function recordOf(stored: StoredGroup): string | undefined {
  const restored = restoreGroup(stored, () => undefined);
  if (!restored.ok) return undefined;
  const own = GROUP_FIELD_PREFIX + stored.group;
  for (const [field, value] of restored.change.set) if (field === own) return value;
  return undefined;
}

async function* iterate<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
