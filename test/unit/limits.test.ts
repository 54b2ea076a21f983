import { describe, expect, it } from 'vitest';
import { createLimiter, type LimiterObserver } from '../../src/limits/limiter.js';
import { createMemoryStore } from '../../src/limits/memory-store.js';
import fc from 'fast-check';
import { compileGlob } from '../../src/core/glob.js';
import { createRuleMatcher } from '../../src/limits/rules.js';
import type { WindowStore } from '../../src/limits/store.js';
import { validated } from '../helpers/config.js';

// What every window store promises is in test/contracts/window-store.ts, run on each store by
// test/behaviour/store-contracts.test.ts; what follows is the memory store's own bound.

function limitsOf(limits: unknown) {
  return validated({ shards: [{ name: 'a', replicas: ['http://127.0.0.1:1'] }], limits }).limits;
}

/** The meaning of a glob, as a regular expression: the oracle of the linear matcher. */
function globOracle(glob: string): RegExp {
  let source = '';
  for (const ch of glob) source += ch === '*' ? '[\\s\\S]*' : ch === '?' ? '[\\s\\S]' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  return new RegExp(`^${source}$`, 'u');
}

describe('compileGlob', () => {
  it.each([
    ['nightly-*', 'nightly-backup', true],
    ['nightly-*', 'nightly-', true],
    ['nightly-*', 'xnightly-backup', false],
    ['job-?', 'job-1', true],
    ['job-?', 'job-12', false],
    ['a.b', 'a.b', true],
    ['a.b', 'axb', false],
    ['(x)+[y]', '(x)+[y]', true],
    ['*', '', true],
  ])('%s matches %j: %s', (glob, job, expected) => {
    expect(compileGlob(glob).test(job)).toBe(expected);
    expect(globOracle(glob).test(job)).toBe(expected);
  });

  it('means what the regular expression of the glob means, on any glob and name (property)', () => {
    const chars = fc.constantFrom('a', 'b', '-', '*', '?', '.', '😀');
    const text = (max: number) => fc.array(chars, { maxLength: max }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(text(8), text(12), (glob, name) => {
        expect(compileGlob(glob).test(name)).toBe(globOracle(glob).test(name));
      }),
      { numRuns: 2_000 },
    );
  });

  it('answers a name of 8 KiB against a pattern of many stars at once (linear, not backtracking)', () => {
    const name = '-'.repeat(8_192);
    expect(compileGlob('*-*-*-*-*-x').test(name)).toBe(false);
    expect(compileGlob('*-*-*-*-*-').test(name)).toBe(true);
  });
});

describe('createRuleMatcher', () => {
  const matcher = createRuleMatcher(
    limitsOf({
      default: { pushes: 100, windowSeconds: 60 },
      rules: [
        { jobs: 'critical-*', exempt: true },
        { name: 'nightly', jobs: 'nightly-*', pushes: 10, windowSeconds: 3600 },
        { jobs: 'nightly-big', pushes: 1, windowSeconds: 60 },
      ],
    }),
  );

  it('applies the first matching rule, then the default', () => {
    expect(matcher.ruleFor('nightly-big')).toEqual({ name: 'nightly', pushes: 10, windowSeconds: 3600 });
    expect(matcher.ruleFor('hourly')).toEqual({ name: 'default', pushes: 100, windowSeconds: 60 });
  });

  it('never limits exempt jobs', () => {
    expect(matcher.ruleFor('critical-db')).toBeUndefined();
  });

  it('limits nothing without a default when no rule matches', () => {
    expect(createRuleMatcher(limitsOf({ rules: [{ jobs: 'a', pushes: 1, windowSeconds: 1 }] })).ruleFor('b')).toBeUndefined();
  });
});

describe('the memory store', () => {
  it('keeps at most maxKeys windows, forgetting the oldest first', async () => {
    let evictions = 0;
    const store = createMemoryStore({ maxKeys: 100, onEvict: () => evictions++ });
    const r = { name: 'r', pushes: 1, windowSeconds: 60 };
    for (let i = 0; i < 250; i++) await store.consume(r, `job-${i}`);
    expect(store.size()).toBeLessThanOrEqual(100);
    expect(evictions).toBe(150);
    // The newest job is still counted; the oldest was forgotten and may push again.
    expect((await store.consume(r, 'job-249')).allowed).toBe(false);
    expect((await store.consume(r, 'job-0')).allowed).toBe(true);
  });

  it('sweeps windows that have ended before forgetting live ones', async () => {
    let now = 0;
    let evictions = 0;
    const store = createMemoryStore({ maxKeys: 10, now: () => now, onEvict: () => evictions++ });
    const r = { name: 'r', pushes: 1, windowSeconds: 1 };
    for (let i = 0; i < 10; i++) await store.consume(r, `old-${i}`);
    now = 5_000;
    for (let i = 0; i < 10; i++) await store.consume(r, `new-${i}`);
    expect(evictions).toBe(0);
    expect(store.size()).toBe(10);
  });
});

describe('createLimiter', () => {
  const events: string[] = [];
  const observer: LimiterObserver = {
    limited: (rule) => events.push(`limited ${rule.name}`),
    storeFailed: (_err, first) => events.push(`failed first=${first}`),
    storeRecovered: () => events.push('recovered'),
    evicted: () => events.push('evicted'),
  };
  const failing = (): WindowStore & { down: boolean } => {
    const memory = createMemoryStore({ maxKeys: 100 });
    const store = {
      down: true,
      consume: (rule: Parameters<WindowStore['consume']>[0], job: string) =>
        store.down ? Promise.reject(new Error('connection refused')) : memory.consume(rule, job),
      close: () => memory.close(),
    };
    return store;
  };

  it('is absent when no limit is configured', () => {
    expect(createLimiter(limitsOf({}), undefined, observer)).toBeUndefined();
  });

  it('with the shared store down, limits locally and reports the incident once, then its end', async () => {
    events.length = 0;
    const store = failing();
    const limiter = createLimiter(limitsOf({ default: { pushes: 2, windowSeconds: 60 } }), store, observer)!;
    const allowed = [];
    for (let i = 0; i < 4; i++) allowed.push((await limiter.check('j'))!.allowed);
    expect(allowed).toEqual([true, true, false, false]);
    store.down = false;
    expect((await limiter.check('j'))!.allowed).toBe(true);
    expect(events).toEqual([
      'failed first=true',
      'failed first=false',
      'failed first=false',
      'limited default',
      'failed first=false',
      'limited default',
      'recovered',
    ]);
  });

  it('with onStoreError open, lets every push through while the shared store is down', async () => {
    const limiter = createLimiter(limitsOf({ default: { pushes: 1, windowSeconds: 60 }, onStoreError: 'open' }), failing(), observer)!;
    for (let i = 0; i < 5; i++) expect(await limiter.check('j')).toBeUndefined();
  });
});
