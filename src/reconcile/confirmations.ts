/**
 * The differences the previous pass saw, so that a pass acts on a difference only when it sees it
 * again (core/signatures says why and what a difference's signatures are). Two generations: what
 * the previous pass saw, to confirm against, and what this pass sees, for the next one. Bounded:
 * a pass that sees more differences than `max` remembers `max` of them and says so.
 */

export interface PassConfirmations {
  /**
   * Notes a difference this pass sees; true when it is to be acted on: the previous pass saw one
   * of its signatures too, or it has none (acted on at once).
   */
  confirm(signatures: readonly string[] | undefined): boolean;
  /** Every difference this pass saw is remembered (none dropped at the bound). */
  readonly complete: boolean;
  /** What this pass saw becomes what the next pass confirms against (not after a dry run). */
  commit(): void;
}

export interface Confirmations {
  startPass(): PassConfirmations;
  /** Forgets what earlier passes saw: another reconciler may have acted since (the lease moved). */
  forget(): void;
}

export function createConfirmations(max = 200_000): Confirmations {
  let seenBefore: ReadonlySet<string> = new Set();
  return {
    startPass() {
      const seenNow = new Set<string>();
      let complete = true;
      return {
        confirm(signatures) {
          if (signatures === undefined) return true;
          for (const signature of signatures) {
            if (seenNow.size < max) seenNow.add(signature);
            else if (!seenNow.has(signature)) complete = false;
          }
          return signatures.some((signature) => seenBefore.has(signature));
        },
        get complete() {
          return complete;
        },
        commit() {
          seenBefore = seenNow;
        },
      };
    },
    forget() {
      seenBefore = new Set();
    },
  };
}
