/**
 * Which limit applies to a job: the first rule whose glob matches the whole job name, else the
 * default, else none. Pure; globs are compiled once and answers cached per job (bounded).
 */
import type { LimitsConfig } from '../config/schema.js';
import { compileGlob } from '../core/glob.js';

export interface Rule {
  /** From the configuration: a bounded set, safe as a metric label. */
  readonly name: string;
  readonly pushes: number;
  readonly windowSeconds: number;
}

export interface RuleMatcher {
  /** The rule limiting `job`, or undefined when it is exempt or no rule and no default apply. */
  ruleFor(job: string): Rule | undefined;
  readonly rules: readonly Rule[];
}

const CACHE_LIMIT = 10_000;

export function createRuleMatcher(limits: LimitsConfig): RuleMatcher {
  const compiled = limits.rules.map((rule) => ({
    test: compileGlob(rule.jobs),
    rule: rule.exempt === true ? undefined : { name: rule.name ?? rule.jobs, pushes: rule.pushes ?? 0, windowSeconds: rule.windowSeconds ?? 0 },
  }));
  const fallback: Rule | undefined = limits.default && { name: 'default', ...limits.default };
  const cache = new Map<string, Rule | null>();
  const rules = [...compiled.flatMap((c) => (c.rule === undefined ? [] : [c.rule])), ...(fallback ? [fallback] : [])];
  return {
    rules,
    ruleFor(job) {
      const cached = cache.get(job);
      if (cached !== undefined) return cached ?? undefined;
      const match = compiled.find((c) => c.test.test(job));
      const rule = match === undefined ? fallback : match.rule;
      // Jobs come from clients: forget everything rather than grow without bound.
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(job, rule ?? null); // null: known to have no rule
      return rule;
    },
  };
}
