/**
 * Writes a push to its group's owner. During a ring change, a group that moves is written to its
 * old owner first and to its new owner only once the old one stored it (docs/resizing.md).
 */
import type { OutgoingRequest } from '../backends/client.js';
import type { Cluster, Shard } from '../backends/cluster.js';
import type { AckPolicy } from '../config/schema.js';
import { writeToShard, type WriteObserver } from './fan-out.js';
import { requiredAcks, type WriteOutcome } from './outcome.js';

/** `request.group` places the push; `ack` applies to every shard written. */
export function writeGroup(
  cluster: Pick<Cluster, 'ownerOf' | 'previousOwnerOf'>,
  ack: AckPolicy,
  request: OutgoingRequest,
  observer: WriteObserver,
): Promise<WriteOutcome> {
  const owner = cluster.ownerOf(request.group);
  const previous = cluster.previousOwnerOf(request.group);
  // Not async: a steady write hands back the fan-out's own promise, no second one.
  if (previous === undefined) return writeToShard(owner, requiredAcks(ack, owner.backends.length), request, observer);
  return writeMovingGroup(previous, owner, ack, request, observer);
}

/**
 * The old owner stays the authority until the change has settled, so it is written first; the
 * new owner gets the push only once the old one stored it, and before the client hears (a
 * client's next push then reaches it after this one). Both must meet the ack policy: the new
 * owner becomes the authority when the change settles, which this front door may learn a
 * heartbeat late.
 */
async function writeMovingGroup(previous: Shard, owner: Shard, ack: AckPolicy, request: OutgoingRequest, observer: WriteObserver): Promise<WriteOutcome> {
  const first = await writeToShard(previous, requiredAcks(ack, previous.backends.length), request, observer);
  if (first.kind !== 'answer' || first.status >= 300) return first;
  const second = await writeToShard(owner, requiredAcks(ack, owner.backends.length), request, observer);
  // A refusal by the new owner (its other groups conflict with this push) is passed on.
  if (second.kind === 'answer') return second.status < 300 ? first : second;
  return { kind: 'failed', code: 'MOVE_INCOMPLETE', shard: owner.name, replicas: owner.backends.length, stored: second.stored, required: second.required };
}
