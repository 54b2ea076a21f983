/**
 * The elements of one array in a JSON document, cut out of the document's bytes as they arrive:
 * `{"status":"success","data":[{…},{…}]}` read from a replica holding 25,000 groups yields one
 * group's text at a time, so that neither the whole body nor its whole parse is ever held.
 *
 * Only the structure is followed (strings, escapes, nesting); each element's text is left to
 * JSON.parse, which checks it. The bytes that mark structure (`"` `\` `{` `}` `[` `]` `,` `:`)
 * never occur inside a multi-byte UTF-8 sequence, so chunks may be cut anywhere.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

export interface JsonArraySplitter {
  /** The elements completed by this chunk, as text. */
  push(chunk: Buffer): string[];
  /** Throws when the document ended early, or did not hold the array (`null` counts as empty). */
  end(): void;
}

const isSpace = (byte: number): boolean => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/** Splits the array under the top-level object's key `key`. */
export function createJsonArraySplitter(key: string): JsonArraySplitter {
  const wanted = Buffer.from(JSON.stringify(key).slice(1, -1));
  let depth = 0;
  let inString = false;
  let escaped = false;
  // Top level: whether the next string is a key, the key being read, and the last key read.
  let expectKey = false;
  let keyBytes: number[] | undefined;
  let lastKeyIsWanted = false;
  let found = false;
  let inArray = false;
  // The element being read: its parts from earlier chunks, and where it starts in this one.
  let parts: Buffer[] = [];
  let open = false;
  return {
    push(chunk) {
      const out: string[] = [];
      let start = open ? 0 : -1;
      const finish = (at: number): void => {
        if (parts.length === 0) out.push(chunk.toString('utf8', start, at));
        else out.push(Buffer.concat([...parts, chunk.subarray(start, at)]).toString('utf8'));
        parts = [];
        open = false;
        start = -1;
      };
      // The next quote at or after the byte read (chunk.length: none), looked up once per quote:
      // bytes before an escaped quote, or to the end of a chunk a string runs past, are read one
      // by one without searching again (which made long escaped strings quadratic).
      let quoteAt = -1;
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i]!;
        if (inString) {
          // Most bytes are inside strings: jump to the closing quote unless an escape may precede it.
          if (!escaped && keyBytes === undefined) {
            if (quoteAt < i) {
              quoteAt = chunk.indexOf(QUOTE, i);
              if (quoteAt === -1) quoteAt = chunk.length;
            }
            if (quoteAt < chunk.length && (quoteAt === i || chunk[quoteAt - 1] !== BACKSLASH)) {
              inString = false;
              i = quoteAt;
              continue;
            }
          }
          if (escaped) escaped = false;
          else if (byte === BACKSLASH) escaped = true;
          else if (byte === QUOTE) {
            inString = false;
            if (keyBytes !== undefined) {
              // Compared as written, escapes included.
              lastKeyIsWanted = Buffer.from(keyBytes).equals(wanted);
              keyBytes = undefined;
            }
            continue;
          }
          keyBytes?.push(byte);
          continue;
        }
        if (inArray && depth === 2 && !open && !isSpace(byte) && byte !== COMMA && byte !== CLOSE_BRACKET) {
          open = true;
          start = i;
        }
        switch (byte) {
          case QUOTE:
            inString = true;
            if (depth === 1 && expectKey) {
              keyBytes = [];
              expectKey = false;
            }
            break;
          case OPEN_BRACE:
          case OPEN_BRACKET:
            depth++;
            if (depth === 1) {
              if (byte !== OPEN_BRACE) throw new Error('the document is not a JSON object');
              expectKey = true;
            }
            if (depth === 2 && byte === OPEN_BRACKET && lastKeyIsWanted) {
              inArray = true;
              found = true;
            }
            break;
          case CLOSE_BRACE:
          case CLOSE_BRACKET:
            if (inArray && depth === 2) {
              // The array's own end.
              if (open) finish(i);
              inArray = false;
            }
            depth--;
            if (depth < 0) throw new Error('unbalanced JSON document');
            break;
          case COMMA:
            if (depth === 1) expectKey = true;
            else if (inArray && depth === 2 && open) finish(i);
            break;
          default:
            // `"data":null`: no array at all, which an empty Pushgateway may answer.
            if (depth === 1 && lastKeyIsWanted && byte === 0x6e) found = true;
        }
      }
      // Copied: the chunk's memory is not ours to keep.
      if (open) parts.push(Buffer.from(chunk.subarray(start)));
      return out;
    },
    end() {
      if (depth !== 0 || inString || open) throw new Error('the JSON document ended early');
      if (!found) throw new Error(`the JSON document has no "${key}" array`);
    },
  };
}
