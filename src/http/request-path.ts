/**
 * The grouping path of a request, parsed once: auth, the body budget and the push handler each
 * need it, on every push. Keyed by the raw request; the URL is final by then (rewriteUrl runs
 * before any hook).
 */
import { parseGroupingPath, type ParseResult } from '../core/grouping-key.js';

const parsed = new WeakMap<object, ParseResult>();

export function groupingPathOf(request: { readonly raw: object; readonly url: string }): ParseResult {
  let result = parsed.get(request.raw);
  if (result === undefined) {
    result = parseGroupingPath(request.url);
    parsed.set(request.raw, result);
  }
  return result;
}
