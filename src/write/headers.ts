/**
 * Which of the client's headers go on to the replicas with a push.
 */

/**
 * Headers that describe one connection, not the message (RFC 9110 7.6.1), plus those undici
 * sets itself, plus the client's credentials: `authorization` is for the front door (config
 * `auth`), and a backend's own credentials are the front door's to send, never a client's.
 * Everything else the client sent goes to the replicas unchanged.
 */
const NOT_FORWARDED = new Set([
  'authorization',
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
]);

export function forwardedHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  let connectionTokens: Set<string> | undefined;
  // One pass over the headers of every push; a Connection header naming further hop-by-hop
  // headers (rare: `keep-alive` and `close` name none) costs a second pass over what was kept.
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!NOT_FORWARDED.has(name)) out.push(name, raw[i + 1]!);
    else if (name === 'connection') {
      const value = raw[i + 1]!.toLowerCase();
      if (value === 'keep-alive' || value === 'close') continue;
      for (const token of value.split(',')) (connectionTokens ??= new Set()).add(token.trim());
    }
  }
  if (connectionTokens === undefined) return out;
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) if (!connectionTokens.has(out[i]!)) kept.push(out[i]!, out[i + 1]!);
  return kept;
}
