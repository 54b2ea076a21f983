import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createJsonArraySplitter } from '../../src/core/json-array.js';

/** Feeds `text` cut at `cuts` (byte offsets) and parses every element the splitter yields. */
function split(text: string, cuts: readonly number[] = []): unknown[] {
  const bytes = Buffer.from(text);
  const splitter = createJsonArraySplitter('data');
  const out: unknown[] = [];
  let from = 0;
  for (const cut of [...new Set(cuts)]
    .filter((c) => c > 0 && c < bytes.length)
    .sort((a, b) => a - b)
    .concat(bytes.length)) {
    for (const element of splitter.push(bytes.subarray(from, cut))) out.push(JSON.parse(element));
    from = cut;
  }
  splitter.end();
  return out;
}

describe('createJsonArraySplitter', () => {
  it('yields each element of the array under the key, whatever the chunks (any JSON, any UTF-8)', () => {
    const element = fc.oneof(fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue()), fc.array(fc.jsonValue()), fc.jsonValue());
    fc.assert(
      fc.property(fc.array(element, { maxLength: 6 }), fc.array(fc.nat({ max: 400 }), { maxLength: 12 }), fc.boolean(), (data, cuts, pretty) => {
        const doc = { status: 'success', 'data"x': [1], data, after: { data: [9] } };
        const text = pretty ? JSON.stringify(doc, null, 2) : JSON.stringify(doc);
        // JSON.parse once more: -0 and the like come back as JSON.parse reads them.
        expect(split(text, cuts)).toEqual(JSON.parse(JSON.stringify(data)));
      }),
    );
  });

  it('reads a Pushgateway answer cut inside a multi-byte character and an escape', () => {
    const text = '{"status":"success","data":[{"labels":{"job":"ü\\"}"}},{"labels":{"job":"b"}}]}';
    const inside = Buffer.from(text).indexOf(Buffer.from('ü')) + 1;
    const escape = Buffer.from(text).indexOf(Buffer.from('\\')) + 1;
    expect(split(text, [inside, escape])).toEqual([{ labels: { job: 'ü"}' } }, { labels: { job: 'b' } }]);
  });

  it('takes `null` for an empty array, as an empty Pushgateway may answer', () => {
    expect(split('{"status":"success","data":null}')).toEqual([]);
    expect(split('{"data": [ ] }')).toEqual([]);
  });

  it('refuses a document without the array, or one that ends early', () => {
    expect(() => split('{"status":"error","error":"x"}')).toThrow('has no "data" array');
    expect(() => split('{"metadata":[1]}')).toThrow('has no "data" array');
    expect(() => split('{"data":{"a":[1]}}')).toThrow('has no "data" array');
    expect(() => split('{"status":"success","data":[{"a":1},{"b"')).toThrow('ended early');
    expect(() => split('[1,2]')).toThrow('not a JSON object');
  });
});
