/**
 * Configurations for tests, validated as `serve` validates them: a problem fails the test at once.
 */
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

export function validated(input: unknown): Readonly<Config> {
  const result = validateConfig(input);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.config;
}

/** The same shards, with exactly the named ones draining. */
export function withDraining(base: Readonly<Config>, draining: readonly string[]): Readonly<Config> {
  return validated({ ...base, shards: base.shards.map((s) => ({ ...s, draining: draining.includes(s.name) })) });
}
