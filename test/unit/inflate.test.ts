import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inflateBody, type InflateResult } from '../../src/http/inflate.js';

const MAX = 1 << 20;
const text = Buffer.from('a 1\nb 2\n');
const good = gzipSync(text);
const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const flip = (b: Buffer, i: number, mask = 0xff): Buffer => {
  const copy = Buffer.from(b);
  copy[i]! ^= mask;
  return copy;
};
const ok = (body: Buffer, streamError?: string): InflateResult => ({ ok: true, body, streamError });
const invalid = (message: string): InflateResult => ({ ok: false, kind: 'invalid', message });

/** A gzip member with the given flags and header fields before good's deflate data and trailer. */
function withHeader(flags: number, fields: Buffer): Buffer {
  return Buffer.concat([hex('1f8b08'), Buffer.of(flags), hex('00000000 0003'), fields, good.subarray(10)]);
}

describe('inflateBody gunzips only for Content-Encoding exactly "gzip"', () => {
  it.each([undefined, 'identity', 'GZIP', 'x-gzip', 'gzip, identity', ' gzip'])('%j leaves the body as it is', (encoding) => {
    expect(inflateBody(good, encoding, MAX)).toEqual(ok(good));
  });

  it('inflates one member, and several in a row', () => {
    expect(inflateBody(good, 'gzip', MAX)).toEqual(ok(text));
    expect(inflateBody(Buffer.concat([good, gzipSync(Buffer.from('c 3\n'))]), 'gzip', MAX)).toEqual(ok(Buffer.from('a 1\nb 2\nc 3\n')));
    expect(inflateBody(gzipSync(Buffer.alloc(0)), 'gzip', MAX)).toEqual(ok(Buffer.alloc(0)));
  });

  it('reads the optional header fields as compress/gzip does', () => {
    const named = withHeader(0x08 | 0x10 | 0x04, Buffer.concat([hex('0300 616263'), Buffer.from('name\0comment\0')]));
    expect(inflateBody(named, 'gzip', MAX)).toEqual(ok(text));
    const header = Buffer.concat([hex('1f8b0802 00000000 0003')]);
    const crc = Buffer.alloc(2);
    crc.writeUInt16LE(crc32Low16(header));
    expect(inflateBody(withHeader(0x02, crc), 'gzip', MAX)).toEqual(ok(text));
    // Reserved flag bits are not checked.
    expect(inflateBody(flip(good, 3, 0x80), 'gzip', MAX)).toEqual(ok(text));
  });
});

describe("a header gzip.NewReader refuses is the push's 400", () => {
  it.each([
    ['an empty body', Buffer.alloc(0), 'EOF'],
    ['fewer than ten bytes', good.subarray(0, 5), 'unexpected EOF'],
    ['a wrong magic number', flip(good, 0), 'gzip: invalid header'],
    ['a method other than deflate', flip(good, 2, 0x0f), 'gzip: invalid header'],
    ['a wrong header CRC', withHeader(0x02, hex('0000')), 'gzip: invalid header'],
    ['a name of 512 bytes', withHeader(0x08, Buffer.concat([Buffer.alloc(512, 0x61), hex('00')])), 'gzip: invalid header'],
    ['a name cut short', Buffer.concat([hex('1f8b0808 00000000 0003'), Buffer.from('abc')]), 'EOF'],
    ['extra data cut short', Buffer.concat([hex('1f8b0804 00000000 0003'), hex('ff00 00')]), 'unexpected EOF'],
  ])('%s: %j', (_name, body, message) => {
    expect(inflateBody(body, 'gzip', MAX)).toEqual(invalid(message));
  });

  it('takes a name of 511 bytes', () => {
    expect(inflateBody(withHeader(0x08, Buffer.concat([Buffer.alloc(511, 0x61), hex('00')])), 'gzip', MAX)).toEqual(ok(text));
  });
});

describe('a stream that breaks later hands the parser its bytes and the error', () => {
  it.each([
    ['the header alone', good.subarray(0, 10), Buffer.alloc(0), 'unexpected EOF'],
    ['deflate data cut short', good.subarray(0, good.length - 12), Buffer.from('a 1\nb'), 'unexpected EOF'],
    ['a trailer cut short', good.subarray(0, good.length - 3), text, 'unexpected EOF'],
    ['a wrong CRC', flip(good, good.length - 6), text, 'gzip: invalid checksum'],
    ['a wrong size', flip(good, good.length - 1), text, 'gzip: invalid checksum'],
    ['a few bytes after the member', Buffer.concat([good, hex('000000')]), text, 'unexpected EOF'],
    ['garbage after the member', Buffer.concat([good, Buffer.alloc(10)]), text, 'gzip: invalid header'],
    ['deflate block type 3', Buffer.concat([good.subarray(0, 10), hex('07'), Buffer.alloc(8)]), Buffer.alloc(0), 'flate: corrupt input before offset 1'],
    [
      'a stored block whose lengths disagree',
      Buffer.concat([good.subarray(0, 10), hex('01 0500 0000'), Buffer.alloc(8)]),
      Buffer.alloc(0),
      'flate: corrupt input before offset 5',
    ],
    ['a distance too far back', flip(good, 12, 0x10), Buffer.from('a '), 'flate: corrupt input before offset 5'],
  ])('%s', (_name, body, decoded, streamError) => {
    expect(inflateBody(body, 'gzip', MAX)).toEqual(ok(decoded, streamError));
  });

  it("ends cleanly when a later member's name is cut short (Go's readString returns io.EOF)", () => {
    const cut = Buffer.concat([good, hex('1f8b0808 00000000 0003'), Buffer.from('abc')]);
    expect(inflateBody(cut, 'gzip', MAX)).toEqual(ok(text));
  });
});

describe('the budget of decompressed bytes', () => {
  it('refuses a gzip bomb without inflating it whole', () => {
    const bomb = gzipSync(Buffer.alloc(64 << 20));
    expect(inflateBody(bomb, 'gzip', 1 << 16)).toEqual({ ok: false, kind: 'too-large', max: 1 << 16 });
  });

  it('counts every member, and takes a body of exactly the budget', () => {
    const two = Buffer.concat([good, good]);
    expect(inflateBody(two, 'gzip', 2 * text.length)).toEqual(ok(Buffer.concat([text, text])));
    expect(inflateBody(two, 'gzip', 2 * text.length - 1)).toEqual({ ok: false, kind: 'too-large', max: 2 * text.length - 1 });
  });
});

describe('inflateBody, properties', () => {
  it('gives back what was gzipped', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 9 }), (raw, level) => {
        expect(inflateBody(gzipSync(raw, { level }), 'gzip', MAX)).toEqual(ok(Buffer.from(raw)));
      }),
    );
  });

  it('a cut stream gives a prefix of the original and a stream error, or a header error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), (raw, at) => {
        const gz = gzipSync(raw);
        const cut = at % gz.length;
        const result = inflateBody(gz.subarray(0, cut), 'gzip', MAX);
        if (cut < 10) {
          expect(result).toEqual(invalid(cut === 0 ? 'EOF' : 'unexpected EOF'));
        } else {
          expect(result.ok).toBe(true);
          if (!result.ok) return;
          expect(result.streamError).toBe('unexpected EOF');
          expect(Buffer.from(raw).subarray(0, result.body.length).equals(result.body)).toBe(true);
        }
      }),
    );
  });
});

function crc32Low16(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) & 0xffff;
}
