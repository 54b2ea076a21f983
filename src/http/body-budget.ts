/**
 * The bytes of request bodies the front door holds at once, over every connection: each request
 * reserves its body when its headers arrive (its Content-Length, or write.maxBodyBytes for a
 * chunked one) and its inflated body when it is gunzipped, and gives them back when it is
 * answered or aborted. A request that would pass the bound is answered 503 before its body is
 * read. Without it, memory would be bounded per request only: server.maxConnections times a body
 * and its inflation.
 */

export interface BodyBudget {
  /** Adds `bytes` to what `request` holds; false (and nothing added) when that would pass the bound. */
  take(request: object, bytes: number): boolean;
  /** Gives back everything `request` holds (once; later calls do nothing). */
  release(request: object): void;
  /** Bytes held now. */
  held(): number;
  readonly maxBytes: number;
}

export function createBodyBudget(maxBytes: number): BodyBudget {
  const holding = new WeakMap<object, number>();
  let held = 0;
  return {
    maxBytes,
    take(request, bytes) {
      if (bytes <= 0) return true;
      if (held + bytes > maxBytes) return false;
      held += bytes;
      holding.set(request, (holding.get(request) ?? 0) + bytes);
      return true;
    },
    release(request) {
      const bytes = holding.get(request);
      if (bytes === undefined) return;
      holding.delete(request);
      held -= bytes;
    },
    held: () => held,
  };
}

/** What a request reserves when its headers arrive: its declared length, or the largest body for a chunked one. */
export function declaredBodyBytes(
  headers: { readonly 'content-length'?: string | undefined; readonly 'transfer-encoding'?: string | undefined },
  maxBodyBytes: number,
): number {
  const length = headers['content-length'];
  if (length !== undefined && /^\d{1,16}$/.test(length)) return Math.min(Number(length), maxBodyBytes);
  return headers['transfer-encoding'] !== undefined ? maxBodyBytes : 0;
}

/** Answered with PUSHRING_OVERLOADED: soon, since bodies in flight are answered within the write time-out. */
export const OVERLOADED_RETRY_AFTER = { 'retry-after': '1' } as const;
