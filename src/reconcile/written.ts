/**
 * What this reconciler wrote itself (copies, replayed hints), per replica and group: the digest
 * of the content and the push time it stands for. A Pushgateway stamps whatever it is sent with
 * the time it receives it, so a copy or a replay looks newer than it is; while the replica still
 * holds that content, planning uses the time it stands for. The stamp the Pushgateway gave it is
 * noted at the first read that sees it: a different stamp later means the group was pushed again
 * since, even with the same content. Bounded: the oldest writes are forgotten first (they then
 * count with the time they were written).
 */

export interface Written {
  /** `stamp`: the push time the replica gave it, when already read back (a replay). */
  remember(replica: string, canonical: string, digest: string, pushTime: number, stamp?: number): void;
  /**
   * The push time a copy read from a replica stands for: its own, unless it is still what this
   * reconciler wrote there. A copy pushed again since is forgotten.
   */
  readonly pushTimeOf: (replica: string, canonical: string, digest: string, pushTime: number) => number;
  readonly size: number;
}

export function createWritten(max = 200_000): Written {
  const written = new Map<string, { digest: string; pushTime: number; stamp: number | undefined }>();
  const keyOf = (replica: string, canonical: string): string => `${replica}\u0000${canonical}`;
  return {
    remember(replica, canonical, digest, pushTime, stamp) {
      const key = keyOf(replica, canonical);
      written.delete(key);
      if (written.size >= max) written.delete(written.keys().next().value!);
      written.set(key, { digest, pushTime, stamp });
    },
    pushTimeOf(replica, canonical, digest, pushTime) {
      const key = keyOf(replica, canonical);
      const record = written.get(key);
      if (record === undefined) return pushTime;
      record.stamp ??= pushTime;
      if (record.digest === digest && record.stamp === pushTime) return record.pushTime;
      written.delete(key); // pushed since
      return pushTime;
    },
    get size() {
      return written.size;
    },
  };
}
