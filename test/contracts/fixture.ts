/**
 * What a store contract is given besides a maker of fresh stores. Each contract is a function
 * `describe<Store>Contract(name, make, options?)` in its own file here; test/behaviour/
 * store-contracts.test.ts runs every one on each implementation (memory, and a real Redis
 * through redis-fixture.ts). A store with no shared state or no outage (memory) leaves the
 * option out, and the contract skips what needs it.
 */

/** Makes a store: `A` is what the contract varies per test (bounds, event sinks). */
export type Make<A extends unknown[], S> = (...args: A) => S;

export interface ContractOptions<A extends unknown[], S> {
  /**
   * One fresh backing state per call; the maker it answers makes stores over that state, each
   * as another front door would (its own connection), so that they see each other's data.
   */
  readonly sharing?: () => Make<A, S>;
  /** Stores over a backing state the test takes away and brings back (a Redis that dies). */
  readonly outage?: () => Promise<Outage<A, S>>;
}

export interface Outage<A extends unknown[], S> {
  /** Makes stores over the backing state below, each through its own connection. */
  readonly make: Make<A, S>;
  /** Takes the backing state out of reach (the server is killed). */
  down(): Promise<void>;
  /** Brings it back, empty (a restarted Redis without persistence), and waits until every store's connection is ready. */
  up(): Promise<void>;
}
