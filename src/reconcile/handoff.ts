/**
 * Hinted handoff in a pass: what to do with the writes the suspect replicas of a shard missed.
 * With a trusted replica in the shard, the suspects' hints are superseded: the copy from it
 * carries the latest state, deletes included. With none (each replica missed something), each
 * replica's hints are replayed in order, so that each gets exactly the writes it missed.
 */
import type { Backend } from '../backends/client.js';
import type { ReplicaView } from '../core/repair.js';
import type { HintStore } from './hints.js';
import { readReplica } from './read.js';
import type { Written } from './written.js';

export interface HandoffEvents {
  hintsReplayed?(count: number): void;
  hintsSuperseded?(count: number): void;
}

/** True when something was replayed: the shard is to be read again. */
export async function handOffHints(
  views: readonly ReplicaView[],
  byId: ReadonlyMap<string, Backend>,
  hints: HintStore,
  written: Written,
  events: HandoffEvents,
): Promise<boolean> {
  const anyTrusted = views.some((v) => v.suspectSince === undefined);
  let replayed = false;
  let count = 0;
  for (const view of views) {
    if (view.suspectSince === undefined) continue;
    // Redis not answering: the hints stay where they are, and repairs within the shard go on.
    const pending = await hints.drain(view.id).catch(() => []);
    if (pending.length === 0) continue;
    if (anyTrusted) {
      events.hintsSuperseded?.(pending.length);
      continue;
    }
    const backend = byId.get(view.id)!;
    const groups = new Map<string, number>();
    for (const [i, hint] of pending.entries()) {
      const res = await backend.call(hint.method, hint.path, hint.body, hint.headers).catch(() => undefined);
      if (res === undefined || res.status >= 500) {
        // Keep the rest for the next pass, ahead of the hints queued meanwhile: a hint supersedes
        // the earlier hints of its group, so an old one added behind a newer one would replace it.
        const meanwhile = await hints.drain(view.id).catch(() => []);
        for (const rest of [...pending.slice(i), ...meanwhile]) hints.add(view.id, rest);
        break;
      }
      groups.set(hint.group, hint.at / 1000);
      count++;
    }
    // Read back at once (before another replica's replays run): each replayed group stands for
    // the time its push was received, as long as it holds what the replay left.
    const after = await readReplica(backend).catch(() => undefined);
    for (const group of after?.groups.values() ?? []) {
      const pushTime = groups.get(group.canonical);
      if (pushTime !== undefined) written.remember(view.id, group.canonical, group.content, pushTime, group.pushTime);
    }
    replayed = true;
  }
  if (count > 0) events.hintsReplayed?.(count);
  return replayed;
}
