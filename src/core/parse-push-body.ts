/**
 * A push body (already gunzipped) into the families a Pushgateway 1.5.1 would build from it, by
 * its Content-Type as handler/push.go decides: delimited protobuf when Go's mime.ParseMediaType
 * gives application/vnd.google.protobuf with encoding=delimited and
 * proto=io.prometheus.client.MetricFamily, the text format otherwise — a missing or malformed
 * header included.
 *
 * Strings in the result are Go strings (core/go-strings.ts): invalid UTF-8 survives, each such
 * byte as the lone surrogate U+DC80+byte.
 */
import { decodeGoString } from './go-strings.js';
import { parseProtobufFormat } from './protobuf-format.js';
import type { BodyLimits, ParsedBody } from './push-body.js';
import { parseTextFormat } from './text-format.js';

/**
 * `streamError`: the message of the read error that `body` ends with, when its gzip stream broke
 * after those bytes (src/http/inflate.ts); the parsers meet it where they would meet the end.
 */
export function parsePushBody(body: Buffer, contentType: string | undefined, limits: BodyLimits, streamError?: string): ParsedBody {
  return isDelimitedProtobuf(contentType) ? parseProtobufFormat(body, limits, streamError) : parseTextFormat(body, limits, streamError);
}

const PROTOBUF_MEDIA_TYPE = 'application/vnd.google.protobuf';

/**
 * handler/push.go's choice of parser. `contentType` is the header as Node gives it (one character
 * per byte); Go reads the same bytes as UTF-8.
 */
export function isDelimitedProtobuf(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  // The common spellings, decided without the general parser.
  if (contentType === CANONICAL || contentType === CANONICAL_ENCODING_FIRST) return true;
  const parsed = parseMediaType(decodeGoString(Buffer.from(contentType, 'latin1'), 0, contentType.length));
  return (
    parsed !== undefined &&
    parsed.mediaType === PROTOBUF_MEDIA_TYPE &&
    parsed.params.get('encoding') === 'delimited' &&
    parsed.params.get('proto') === 'io.prometheus.client.MetricFamily'
  );
}

const CANONICAL = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';
const CANONICAL_ENCODING_FIRST = 'application/vnd.google.protobuf; encoding=delimited; proto=io.prometheus.client.MetricFamily';

interface MediaType {
  readonly mediaType: string;
  readonly params: ReadonlyMap<string, string>;
}

/**
 * Go 1.19's mime.ParseMediaType, as far as it decides this: the media type lower-cased and
 * trimmed, `;`-separated parameters with lower-cased names, token or quoted values (a backslash
 * escapes only a tspecial, as 1.19 does for MSIE paths), one trailing `;` allowed, a repeated name
 * an error, RFC 2231 continuations (`name*0`, `name*1*`) and encodings (`name*=utf-8''…`)
 * stitched. Undefined where Go answers an error.
 */
export function parseMediaType(v: string): MediaType | undefined {
  let i = v.indexOf(';');
  if (i === -1) i = v.length;
  const mediaType = trimSpace(toLowerGo(v.slice(0, i)));
  if (!isMediaType(mediaType)) return undefined;
  const params = new Map<string, string>();
  let continuations: Map<string, Map<string, string>> | undefined;
  let rest = v.slice(i);
  while (rest.length > 0) {
    rest = trimLeftSpace(rest);
    if (rest.length === 0) break;
    const param = consumeMediaParam(rest);
    if (param === undefined) {
      if (trimSpace(rest) === ';') break;
      return undefined;
    }
    const [key, value, after] = param;
    let target = params;
    const star = key.indexOf('*');
    if (star !== -1) {
      continuations ??= new Map<string, Map<string, string>>();
      const base = key.slice(0, star);
      let pieces = continuations.get(base);
      if (pieces === undefined) continuations.set(base, (pieces = new Map<string, string>()));
      target = pieces;
    }
    if (target.has(key)) return undefined;
    target.set(key, value);
    rest = after;
  }
  for (const [key, pieces] of continuations ?? []) stitchContinuation(params, key, pieces);
  return { mediaType, params };
}

function stitchContinuation(params: Map<string, string>, key: string, pieces: ReadonlyMap<string, string>): void {
  const single = pieces.get(key + '*');
  if (single !== undefined) {
    const decoded = decode2231(single);
    if (decoded !== undefined) params.set(key, decoded);
    return;
  }
  let value = '';
  let valid = false;
  for (let n = 0; ; n++) {
    const simple = pieces.get(`${key}*${n}`);
    if (simple !== undefined) {
      valid = true;
      value += simple;
      continue;
    }
    const encoded = pieces.get(`${key}*${n}*`);
    if (encoded === undefined) break;
    valid = true;
    value += (n === 0 ? decode2231(encoded) : percentUnescape(encoded)) ?? '';
  }
  if (valid) params.set(key, value);
}

/** RFC 2231 `charset'language'percent-encoded`, us-ascii or utf-8 only. */
function decode2231(v: string): string | undefined {
  const first = v.indexOf("'");
  const second = first === -1 ? -1 : v.indexOf("'", first + 1);
  if (second === -1) return undefined;
  const charset = toLowerGo(v.slice(0, first));
  if (charset !== 'us-ascii' && charset !== 'utf-8') return undefined;
  return percentUnescape(v.slice(second + 1));
}

/** %XX escapes decoded; a byte past ASCII becomes U+FFFD: only ASCII values can name the protobuf format. */
function percentUnescape(s: string): string | undefined {
  if (s.indexOf('%') === -1) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) !== 0x25) {
      out += s[i];
      continue;
    }
    const hi = hexDigit(s.charCodeAt(i + 1));
    const lo = hexDigit(s.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return undefined;
    const byte = hi * 16 + lo;
    out += byte < 0x80 ? String.fromCharCode(byte) : '\ufffd';
    i += 2;
  }
  return out;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** `; name = value`: the lower-cased name, the value and what follows, or undefined. */
function consumeMediaParam(v: string): [string, string, string] | undefined {
  let rest = trimLeftSpace(v);
  if (rest.charCodeAt(0) !== 0x3b) return undefined;
  rest = trimLeftSpace(rest.slice(1));
  const end = tokenEnd(rest, 0);
  if (end === 0) return undefined;
  const name = rest.slice(0, end).toLowerCase();
  rest = trimLeftSpace(rest.slice(end));
  if (rest.charCodeAt(0) !== 0x3d) return undefined;
  rest = trimLeftSpace(rest.slice(1));
  const value = consumeValue(rest);
  if (value === undefined || value[0] === '') return undefined;
  return [name, value[0], value[1]];
}

/** A token, or a quoted string in which a backslash escapes a tspecial and is kept before anything else. */
function consumeValue(v: string): [string, string] | undefined {
  if (v.length === 0) return undefined;
  if (v.charCodeAt(0) !== 0x22) {
    const end = tokenEnd(v, 0);
    return [v.slice(0, end), v.slice(end)];
  }
  let value = '';
  for (let i = 1; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x22) return [value, v.slice(i + 1)];
    if (c === 0x5c && i + 1 < v.length && isTSpecial(v.charCodeAt(i + 1))) {
      value += v[i + 1];
      i++;
      continue;
    }
    if (c === 0x0d || c === 0x0a) return undefined;
    value += v[i];
  }
  return undefined;
}

/** `type/subtype` or a bare `type` (checkMediaTypeDisposition), both tokens. */
function isMediaType(s: string): boolean {
  const first = tokenEnd(s, 0);
  if (first === 0) return false;
  if (first === s.length) return true;
  if (s.charCodeAt(first) !== 0x2f) return false;
  const second = tokenEnd(s, first + 1);
  return second > first + 1 && second === s.length;
}

function tokenEnd(s: string, from: number): number {
  let i = from;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || isTSpecial(c)) break;
    i++;
  }
  return i;
}

function isTSpecial(c: number): boolean {
  return '()<>@,;:\\"/[]?='.indexOf(String.fromCharCode(c)) !== -1;
}

/**
 * Go's strings.ToLower as far as a token can tell: ASCII, and the two non-ASCII runes Go lowers
 * to ASCII letters, İ (U+0130) and the Kelvin sign (U+212A). Every other character stays what it
 * is, not a token character either way.
 */
function toLowerGo(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) out += String.fromCharCode(c + 0x20);
    else if (c === 0x130) out += 'i';
    else if (c === 0x212a) out += 'k';
    else out += s[i];
  }
  return out;
}

/** Go's unicode.IsSpace, for the UTF-16 units of a string (every space is in the BMP). */
function isSpace(c: number): boolean {
  if (c <= 0xff) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0x85 || c === 0xa0;
  return c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

function trimLeftSpace(s: string): string {
  let i = 0;
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i === 0 ? s : s.slice(i);
}

function trimSpace(s: string): string {
  let end = s.length;
  while (end > 0 && isSpace(s.charCodeAt(end - 1))) end--;
  return trimLeftSpace(s.slice(0, end));
}
