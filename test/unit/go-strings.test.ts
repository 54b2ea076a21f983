import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeGoString,
  encodeGoString,
  isGoPrint,
  isValidGoString,
  isValidUtf8,
  quoteGoBytes,
  quoteGoRune,
  quoteGoString,
} from '../../src/core/go-strings.js';

const bytes = (hex: string): Buffer => Buffer.from(hex.replace(/ /g, ''), 'hex');

describe('quoteGoBytes is Go 1.19 %q of a string', () => {
  it.each([
    ['plain', Buffer.from('abc'), '"abc"'],
    ['quote and backslash', Buffer.from('a"b\\c'), '"a\\"b\\\\c"'],
    ['named escapes', bytes('07 08 0c 0a 0d 09 0b'), '"\\a\\b\\f\\n\\r\\t\\v"'],
    ['other controls as \\x', bytes('00 01 1f 7f'), '"\\x00\\x01\\x1f\\x7f"'],
    ['C1 controls, NBSP and soft hyphen as \\u', Buffer.from('\u0080\u009f\u00a0\u00ad', 'utf8'), '"\\u0080\\u009f\\u00a0\\u00ad"'],
    ['printable Latin-1 as it is', Buffer.from('é¡ÿ', 'utf8'), '"é¡ÿ"'],
    ['invalid bytes one by one', bytes('ff fe c3 28'), '"\\xff\\xfe\\xc3("'],
    ['an encoded surrogate is three invalid bytes', bytes('ed a0 80'), '"\\xed\\xa0\\x80"'],
    ['an overlong slash', bytes('c0 af'), '"\\xc0\\xaf"'],
    ['a truncated sequence', bytes('e2 82'), '"\\xe2\\x82"'],
    ['format characters as \\u', Buffer.from('\ufeff\u200b\u2028', 'utf8'), '"\\ufeff\\u200b\\u2028"'],
    ['an astral emoji of Unicode 13', Buffer.from('😀', 'utf8'), '"😀"'],
    ['an emoji Unicode 14 added, unknown to Go 1.19', Buffer.from('\u{1fae0}', 'utf8'), '"\\U0001fae0"'],
    ['private use', Buffer.from('\ue000\u{10ffff}', 'utf8'), '"\\ue000\\U0010ffff"'],
    ['U+FFFD itself is printable', Buffer.from('\ufffd', 'utf8'), '"\ufffd"'],
  ])('%s', (_name, input, quoted) => {
    expect(quoteGoBytes(input)).toBe(quoted);
  });

  it('quotes a slice of a buffer', () => {
    expect(quoteGoBytes(Buffer.from('xx"yy'), 2, 4)).toBe('"\\"y"');
  });
});

describe('quoteGoRune is %q of a byte or rune', () => {
  it.each([
    [0x61, "'a'"],
    [0x27, "'\\''"],
    [0x22, `'"'`],
    [0x5c, "'\\\\'"],
    [0x0a, "'\\n'"],
    [0x00, "'\\x00'"],
    [0x85, "'\\u0085'"],
    [0xc3, "'Ã'"],
    [0xff, "'ÿ'"],
  ])('%i is %s', (r, quoted) => {
    expect(quoteGoRune(r)).toBe(quoted);
  });
});

describe('isGoPrint', () => {
  it.each([
    [0x20, true],
    [0x7e, true],
    [0x7f, false],
    [0xa0, false],
    [0xa1, true],
    [0xad, false],
    [0x100, true],
    [0x378, false],
    [0x600, false],
    [0x4e00, true],
    [0xfffd, true],
    [0x1f600, true],
    [0x1fae0, false],
    [0xe0001, false],
  ])('%i: %s', (r, printable) => {
    expect(isGoPrint(r)).toBe(printable);
  });
});

describe('the model keeps Go strings without losing bytes', () => {
  it('decodes valid UTF-8 as text and each invalid byte as U+DC80+byte', () => {
    expect(decodeGoString(bytes('61 ff c3 a9 e2 82'), 0, 6)).toBe('a\udcffé\udce2\udc82');
  });

  it('gives back every byte string it decoded', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (raw) => {
        const buf = Buffer.from(raw);
        expect(encodeGoString(decodeGoString(buf, 0, buf.length)).equals(buf)).toBe(true);
      }),
    );
  });

  it('is valid UTF-8 exactly when the decoded string is well formed', () => {
    const strict = new TextDecoder('utf-8', { fatal: true });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (raw) => {
        const buf = Buffer.from(raw);
        let valid = true;
        try {
          strict.decode(buf);
        } catch {
          valid = false;
        }
        expect(isValidUtf8(buf, 0, buf.length)).toBe(valid);
        expect(isValidGoString(decodeGoString(buf, 0, buf.length))).toBe(valid);
      }),
    );
  });

  it('quotes a decoded string as Go quotes its bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (raw) => {
        const buf = Buffer.from(raw);
        expect(quoteGoString(decodeGoString(buf, 0, buf.length))).toBe(quoteGoBytes(buf));
      }),
    );
  });
});
