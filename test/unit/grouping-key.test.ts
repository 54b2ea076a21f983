import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatGroupingPath, makeGroupingKey, parseGroupingPath } from '../../src/core/grouping-key.js';

function keyOf(url: string): string {
  const parsed = parseGroupingPath(url);
  if (!parsed.ok) throw new Error(`${url}: ${JSON.stringify(parsed)}`);
  return parsed.key.canonical;
}

describe('parseGroupingPath', () => {
  it.each([
    ['/metrics/job/batch', '{job="batch"}'],
    ['/metrics/job/batch/instance/host1', '{instance="host1",job="batch"}'],
    ['/metrics/job/batch/zone/eu/instance/host1', '{instance="host1",job="batch",zone="eu"}'],
    ['/metrics/job/batch?ignored=1', '{job="batch"}'],
    ['/metrics/job@base64/YmF0Y2g', '{job="batch"}'],
    ['/metrics/job@base64/YmF0Y2g=', '{job="batch"}'],
    ['/metrics/job/batch/path@base64/L3Zhci90bXA', '{job="batch",path="/var/tmp"}'],
    ['/metrics/job/batch/path@base64/L3Zhci90bXA=', '{job="batch",path="/var/tmp"}'],
    ['/metrics/job/batch/empty@base64/=', '{empty="",job="batch"}'],
    ['/metrics/job/batch/a/1/a/2', '{a="2",job="batch"}'],
    ['/metrics/job/b%61tch/x/%22q%22', '{job="batch",x="\\"q\\""}'],
    ['/metrics/job/batch/job/other', '{job="batch"}'],
    ['/metrics/job/batch/', '{job="batch"}'],
  ])('%s has key %s', (url, canonical) => {
    expect(keyOf(url)).toBe(canonical);
  });

  it.each([
    ['/metrics/job/batch/odd', 'odd number of components in label string "/odd"'],
    ['/metrics/job/batch/a/1/b', 'odd number of components in label string "/a/1/b"'],
    ['/metrics/job/batch/a/1/', 'odd number of components in label string "/a/1/"'],
    ['/metrics/job/batch/1abc/x', 'improper label name "1abc"'],
    ['/metrics/job/batch/__name__/x', 'improper label name "__name__"'],
    ['/metrics/job/batch/a-b/x', 'improper label name "a-b"'],
    ['/metrics/job/batch/x@base64/a', 'invalid base64 encoding for label x="a": illegal base64 data at input byte 0'],
    ['/metrics/job/batch/x@base64/a+b=', 'invalid base64 encoding for label x="a+b=": illegal base64 data at input byte 1'],
    ['/metrics/job/batch/x@base64/ab$d', 'invalid base64 encoding for label x="ab$d": illegal base64 data at input byte 2'],
    ['/metrics/job/a/x@base64/%01', 'invalid base64 encoding for label x="\\x01": illegal base64 data at input byte 0'],
    ['/metrics/job/a/x@base64/%7F', 'invalid base64 encoding for label x="\\x7f": illegal base64 data at input byte 0'],
    ['/metrics/job/a/x@base64/%C2%A0z', 'invalid base64 encoding for label x="\\u00a0z": illegal base64 data at input byte 0'],
    ['/metrics/job/a/x@base64/t%09ab', 'invalid base64 encoding for label x="t\\tab": illegal base64 data at input byte 1'],
    ['/metrics/job@base64/!!', 'invalid base64 encoding in job name "": illegal base64 data at input byte 0'],
    ['/metrics/job@base64/YWJjZ', 'invalid base64 encoding in job name "abc": illegal base64 data at input byte 4'],
    ['/metrics/job@base64/YWJjZGVm$A', 'invalid base64 encoding in job name "abcdef": illegal base64 data at input byte 8'],
    ['/metrics/job@base64/=', 'job name is required'],
  ])('%s is refused by the push handler: %s', (url, message) => {
    expect(parseGroupingPath(url)).toEqual({ ok: false, kind: 'invalid', message });
  });

  it.each([
    ['/metrics/job', { kind: 'not-found' }],
    ['/metrics/job@base64/', { kind: 'not-found' }],
    ['/metrics/jobx/batch', { kind: 'not-found' }],
    ['/metrics/job/a%zz', { kind: 'bad-request' }],
    ['/metrics/job/', { kind: 'redirect', location: '/metrics/job', permanent: false }],
    ['/metrics/job/gz//a/b?x=1', { kind: 'redirect', location: '/metrics/job/gz/a/b?x=1', permanent: true }],
    ['/metrics/job/a%2F/b', { kind: 'redirect', location: '/metrics/job/a/b', permanent: true }],
    ['/metrics/job/a/b/../c/', { kind: 'redirect', location: '/metrics/job/a/c/', permanent: true }],
    ['/Metrics/Job/a/B', { kind: 'redirect', location: '/metrics/job/a/B', permanent: false }],
    ['/METRICS/JOB@BASE64/YQ?q', { kind: 'redirect', location: '/metrics/job@base64/YQ?q', permanent: false }],
    ['/metrics/job@Base64/YQ', { kind: 'redirect', location: '/metrics/job@base64/YQ', permanent: false }],
    ['//metrics/job/a', { kind: 'redirect', location: '/metrics/job/a', permanent: true }],
    ['/metrics/job//a(b)!', { kind: 'redirect', location: '/metrics/job/a%28b%29%21', permanent: true }],
    ['/metrics/job//a%3Fb', { kind: 'redirect', location: '/metrics/job/a%3Fb', permanent: true }],
    ['/metrics/job//caf%C3%A9', { kind: 'redirect', location: '/metrics/job/caf%C3%A9', permanent: true }],
  ])('%s is refused before the handler: %j', (url, failure) => {
    expect(parseGroupingPath(url)).toEqual({ ok: false, ...failure });
  });
});

const labelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,12}$/).filter((n) => !n.startsWith('__') && n !== 'job');
const labelValue = fc.string({ unit: 'binary', maxLength: 20 }).filter((v) => !v.includes('\uFFFD') && v.isWellFormed());
const group = fc.record({
  job: labelValue.filter((v) => v !== ''),
  labels: fc.uniqueArray(fc.tuple(labelName, labelValue), { maxLength: 5, selector: ([n]) => n }),
});

describe('grouping key properties', () => {
  it('formatGroupingPath and parseGroupingPath round-trip any group', () => {
    fc.assert(
      fc.property(group, ({ job, labels }) => {
        const key = makeGroupingKey(new Map([['job', job], ...labels]));
        const parsed = parseGroupingPath(formatGroupingPath(key));
        expect(parsed.ok && parsed.key).toEqual(key);
      }),
      { numRuns: 500 },
    );
  });

  it('the canonical key does not depend on label order or on base64 spelling', () => {
    const spellings = group.chain((g) =>
      fc.tuple(
        fc.constant(g),
        fc.shuffledSubarray(g.labels, { minLength: g.labels.length, maxLength: g.labels.length }),
        // The Pushgateway takes only the URL-safe alphabet (it refuses `+`), padded or not.
        fc.array(fc.constantFrom('plain', 'unpadded', 'padded'), { minLength: g.labels.length + 1, maxLength: g.labels.length + 1 }),
      ),
    );
    fc.assert(
      fc.property(spellings, ([{ job, labels }, shuffled, styles]) => {
        const spell = (name: string, value: string, style: string): string => {
          if (style === 'plain' && value !== '' && !value.includes('/')) return `${name}/${encodeURIComponent(value)}`;
          const padded = Buffer.from(value).toString('base64').replaceAll('+', '-').replaceAll('/', '_');
          const encoded = style === 'padded' ? padded : Buffer.from(value).toString('base64url');
          return `${name}@base64/${encoded === '' ? '=' : encoded}`;
        };
        const a = '/metrics/' + spell('job', job, 'plain') + labels.map(([n, v]) => '/' + spell(n, v, 'plain')).join('');
        const b = '/metrics/' + spell('job', job, styles[0]!) + shuffled.map(([n, v], i) => '/' + spell(n, v, styles[i + 1]!)).join('');
        expect(keyOf(b)).toBe(keyOf(a));
      }),
      { numRuns: 500 },
    );
  });

  it('different groups have different canonical keys', () => {
    fc.assert(
      fc.property(group, group, (g1, g2) => {
        const k1 = makeGroupingKey(new Map([['job', g1.job], ...g1.labels]));
        const k2 = makeGroupingKey(new Map([['job', g2.job], ...g2.labels]));
        expect(k1.canonical === k2.canonical).toBe(JSON.stringify(k1.labels) === JSON.stringify(k2.labels));
      }),
      { numRuns: 500 },
    );
  });
});
