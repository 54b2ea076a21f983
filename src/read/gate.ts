/**
 * The places for reads of every group (GET /metrics, /api/v1/metrics, the page's list): each
 * costs every replica up to two read connections, and each replica keeps just enough of them for
 * every place, so a read never waits for a connection. A read that finds every place taken waits
 * for one, in order, at most `waitMs` and behind at most `maxWaiting` others; then it is refused
 * (503 PUSHRING_READS_BUSY): a cleanup script written for a Pushgateway does not retry a 503, so
 * it is given a short wait first, and a flood of readers is still turned away at once.
 */

export interface ReadGate {
  readonly max: number;
  /** Resolves true with a place taken, false when none came free in time (or too many wait). */
  enter(): Promise<boolean>;
  /** Gives back a place taken by enter(); exactly once per true. */
  leave(): void;
}

/** Places for the page's list (GET /-/api/groups), apart from server.maxConcurrentReads: one read connection each. */
export const PAGE_READS = 1;

/** How long a read waits for a place. */
export const READ_PLACE_WAIT_MS = 5_000;

export function createReadGate(max: number, waitMs = READ_PLACE_WAIT_MS, maxWaiting = 4 * max): ReadGate {
  let inside = 0;
  const waiting: Array<(placed: boolean) => void> = [];
  return {
    max,
    enter() {
      if (inside < max) {
        inside++;
        return Promise.resolve(true);
      }
      if (waiting.length >= maxWaiting) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(wake), 1);
          resolve(false);
        }, waitMs);
        const wake = (placed: boolean): void => {
          clearTimeout(timer);
          resolve(placed);
        };
        waiting.push(wake);
      });
    },
    leave() {
      if (inside === 0) throw new Error('ReadGate.leave without a place taken');
      // The place goes to the first waiting read, if any: `inside` stays.
      const next = waiting.shift();
      if (next !== undefined) next(true);
      else inside--;
    },
  };
}
