/**
 * Sends one push to every live replica of its shard in parallel and settles on an outcome once
 * each of them answered, failed, or was found down while we waited.
 */
import type { Backend, OutgoingRequest, ReplicaResult, ResultSink } from '../backends/client.js';
import type { Shard } from '../backends/cluster.js';
import { decideOutcome, type WriteOutcome } from './outcome.js';

/** Told about every replica's part in a push, for metrics and logs. */
export interface WriteObserver {
  replicaResult(backend: Backend, result: ReplicaResult, request: OutgoingRequest): void;
  /** The replica was known down and not tried; it missed this write. */
  replicaSkipped(backend: Backend, request: OutgoingRequest): void;
}

const KNOWN_DOWN: ReplicaResult = Object.freeze({ failure: 'unreachable' });

/**
 * `required`: how many replicas must store the push (from the ack policy, see outcome.ts). A
 * failure names the shard.
 */
export function writeToShard(shard: Shard, required: number, request: OutgoingRequest, observer: WriteObserver): Promise<WriteOutcome> {
  return new Promise((resolve) => {
    new ShardWrite(shard, required, request, observer, resolve).start();
  });
}

class ShardWrite implements ResultSink {
  private readonly results: ReplicaResult[];
  private pending = 0;

  constructor(
    private readonly shard: Shard,
    private readonly required: number,
    private readonly request: OutgoingRequest,
    private readonly observer: WriteObserver,
    private readonly resolve: (outcome: WriteOutcome) => void,
  ) {
    this.results = new Array<ReplicaResult>(shard.backends.length);
  }

  start(): void {
    const { backends } = this.shard;
    for (const backend of backends) if (backend.up) this.pending++;
    // Every replica known down: answer at once rather than make each push wait for a time-out
    // (a hung shard would cost every push write.timeoutMs). Probes bring them back.
    for (let i = 0; i < backends.length; i++) {
      const backend = backends[i]!;
      if (!backend.up) {
        this.results[i] = KNOWN_DOWN;
        this.observer.replicaSkipped(backend, this.request);
      }
    }
    if (this.pending === 0) {
      this.finish();
      return;
    }
    for (let i = 0; i < backends.length; i++) if (backends[i]!.up) backends[i]!.send(this.request, this, i);
  }

  settle(index: number, result: ReplicaResult): void {
    this.results[index] = result;
    this.observer.replicaResult(this.shard.backends[index]!, result, this.request);
    if (--this.pending === 0) this.finish();
  }

  private finish(): void {
    const outcome = decideOutcome(this.results, this.required);
    // An answer as it is (the hot path allocates nothing more); a failure names its shard.
    this.resolve(outcome.kind === 'answer' ? outcome : { ...outcome, shard: this.shard.name, replicas: this.shard.backends.length });
  }
}
