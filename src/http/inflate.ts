/**
 * Gunzips a push body as a Pushgateway 1.5.1 does (main.go's gunzipRequest: Go's compress/gzip
 * when Content-Encoding is exactly "gzip"), within a budget of decompressed bytes: a gzip bomb
 * costs at most `maxBytes` of memory and the time to inflate them.
 *
 * Go reads the first member's header before the handler runs: an error there is the 400 itself
 * (`invalid`). Anything that breaks later — corrupt deflate data, a truncated stream, a bad
 * checksum, garbage after a member — reaches the body parser as a read error after the bytes
 * decoded so far, and the parser decides (a text body ends cleanly where a line may end, see
 * core/text-format.ts): so those come back as `ok` with the decoded bytes and `streamError`,
 * to be handed to parsePushBody.
 *
 * The gzip framing (header flags, 512-byte name and comment, header CRC, trailer, members) is read
 * here as Go reads it; the deflate data is inflated by zlib. Where zlib finds corrupt data, Go's
 * "flate: corrupt input before offset N" is given with N the shortest prefix of the deflate data
 * that zlib refuses, and the bytes decoded before it: Go's decoder reads a little ahead, so its N
 * can be larger by a byte or two.
 */
import { constants, crc32, inflateRawSync } from 'node:zlib';

export type InflateResult =
  /** `streamError`: the read error Go meets after `body`, undefined when the stream ended well. */
  | { readonly ok: true; readonly body: Buffer; readonly streamError: string | undefined }
  | { readonly ok: false; readonly kind: 'invalid'; readonly message: string }
  | { readonly ok: false; readonly kind: 'too-large'; readonly max: number };

const EOF = 'EOF';
const UNEXPECTED_EOF = 'unexpected EOF';
const INVALID_HEADER = 'gzip: invalid header';
const INVALID_CHECKSUM = 'gzip: invalid checksum';

const FLAG_HEADER_CRC = 0x02;
const FLAG_EXTRA = 0x04;
const FLAG_NAME = 0x08;
const FLAG_COMMENT = 0x10;
/** compress/gzip reads a name or comment into a 512-byte buffer, its NUL included. */
const MAX_HEADER_STRING = 512;

export function inflateBody(body: Buffer, contentEncoding: string | undefined, maxBytes: number): InflateResult {
  if (contentEncoding !== 'gzip') return { ok: true, body, streamError: undefined };
  const first = readHeader(body, 0);
  if (typeof first === 'string') {
    // Fewer than ten bytes: io.ReadFull's EOF or unexpected EOF, as gzip.NewReader returns them.
    return { ok: false, kind: 'invalid', message: first };
  }
  const parts: Buffer[] = [];
  let total = 0;
  const done = (streamError: string | undefined): InflateResult => ({
    ok: true,
    body: parts.length === 1 ? parts[0]! : Buffer.concat(parts, total),
    streamError,
  });
  let pos = first;
  for (;;) {
    const member = inflateMember(body.subarray(pos), maxBytes - total);
    if (member.kind === 'too-large') return { ok: false, kind: 'too-large', max: maxBytes };
    parts.push(member.output);
    total += member.output.length;
    if (member.kind === 'broken') return done(member.error);
    pos += member.consumed;
    if (body.length - pos < 8) return done(UNEXPECTED_EOF);
    if (body.readUInt32LE(pos) !== crc32(member.output) || body.readUInt32LE(pos + 4) !== member.output.length % 2 ** 32) return done(INVALID_CHECKSUM);
    pos += 8;
    // Members follow each other until the input ends exactly after one.
    if (pos === body.length) return done(undefined);
    const next = readHeader(body, pos);
    // gzip.Reader.Read hands on a later header's error as it is, and io.EOF is the end.
    if (typeof next === 'string') return done(next === EOF ? undefined : next);
    pos = next;
  }
}

/**
 * compress/gzip's readHeader at `pos`: the offset of the deflate data, or Go's error. A name or
 * comment cut short is io.EOF (Go returns ReadByte's error as it is there).
 */
function readHeader(body: Buffer, pos: number): number | string {
  const left = body.length - pos;
  if (left < 10) return left === 0 ? EOF : UNEXPECTED_EOF;
  if (body[pos] !== 0x1f || body[pos + 1] !== 0x8b || body[pos + 2] !== 8) return INVALID_HEADER;
  const flags = body[pos + 3]!;
  const start = pos;
  pos += 10;
  if (flags & FLAG_EXTRA) {
    if (body.length - pos < 2) return UNEXPECTED_EOF;
    const size = body.readUInt16LE(pos);
    pos += 2;
    if (body.length - pos < size) return UNEXPECTED_EOF;
    pos += size;
  }
  for (const flag of [FLAG_NAME, FLAG_COMMENT]) {
    if (!(flags & flag)) continue;
    const nul = body.indexOf(0, pos);
    const end = nul === -1 ? body.length : nul;
    if (end - pos >= MAX_HEADER_STRING) return INVALID_HEADER;
    if (nul === -1) return EOF;
    pos = nul + 1;
  }
  if (flags & FLAG_HEADER_CRC) {
    if (body.length - pos < 2) return UNEXPECTED_EOF;
    if (body.readUInt16LE(pos) !== (crc32(body.subarray(start, pos)) & 0xffff)) return INVALID_HEADER;
    pos += 2;
  }
  return pos;
}

type Member =
  | { readonly kind: 'complete'; readonly output: Buffer; readonly consumed: number }
  | { readonly kind: 'broken'; readonly output: Buffer; readonly error: string }
  | { readonly kind: 'too-large' };

/** Inflates one member's deflate data, which `data` starts with (its trailer and more may follow). */
function inflateMember(data: Buffer, budget: number): Member {
  try {
    const { buffer, engine } = inflateRawSync(data, { info: true, maxOutputLength: Math.max(budget, 1) }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    if (buffer.length > budget) return { kind: 'too-large' };
    return { kind: 'complete', output: buffer, consumed: engine.bytesWritten };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') return { kind: 'too-large' };
    if (code === 'Z_BUF_ERROR') {
      // The input ended inside the deflate data: Go delivers what it decoded, then unexpected EOF.
      const output = inflatePrefix(data, data.length, budget);
      return output === undefined ? { kind: 'too-large' } : { kind: 'broken', output, error: UNEXPECTED_EOF };
    }
    const offset = firstRefusedPrefix(data, budget);
    if (offset === undefined) return { kind: 'too-large' };
    const output = inflatePrefix(data, offset - 1, budget);
    if (output === undefined) return { kind: 'too-large' };
    return { kind: 'broken', output, error: `flate: corrupt input before offset ${offset}` };
  }
}

/** What zlib decodes of data[0, length) without reaching its end; undefined past the budget. */
function inflatePrefix(data: Buffer, length: number, budget: number): Buffer | undefined {
  try {
    const output = inflateRawSync(data.subarray(0, length), { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: Math.max(budget, 1) });
    return output.length > budget ? undefined : output;
  } catch {
    return undefined;
  }
}

/**
 * The length of the shortest prefix of `data` that zlib refuses (a bisection: refusing is monotone
 * in the prefix), or undefined when inflating runs past the budget first. Runs only for corrupt
 * data, in at most log2(length) inflations each bounded by the budget.
 */
function firstRefusedPrefix(data: Buffer, budget: number): number | undefined {
  let lo = 0;
  let hi = data.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    try {
      inflateRawSync(data.subarray(0, mid), { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: Math.max(budget, 1) });
      lo = mid;
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
      hi = mid;
    }
  }
  return hi;
}
