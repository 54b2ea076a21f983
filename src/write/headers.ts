/**
 * Which of the client's headers go on to the replicas with a push.
 */

/**
 * Headers that describe one connection, not the message (RFC 9110 7.6.1), plus those undici
 * sets itself. Everything else the client sent goes to the replicas unchanged.
 */
const NOT_FORWARDED = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect',
]);

export function forwardedHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  let connectionTokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') {
      connectionTokens = new Set(raw[i + 1]!.toLowerCase().split(',').map((t) => t.trim()));
    }
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (NOT_FORWARDED.has(name) || connectionTokens?.has(name)) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}
