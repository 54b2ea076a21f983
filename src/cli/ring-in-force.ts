/**
 * The shards of the ring in force, as a running front door reports them (GET /-/status). `ring
 * plan` needs them to tell a new shard whose Pushgateways are not started yet (it holds nothing)
 * from a shard of the ring in force that is down (its groups are unknown).
 */
import { parseListen } from '../config/load.js';

export type RingInForce =
  { readonly ok: true; readonly url: string; readonly shards: ReadonlySet<string> } | { readonly ok: false; readonly url: string; readonly reason: string };

/** Where a front door listening on `listen` is reached from this host. */
export function frontDoorUrlOf(listen: string): string {
  const parsed = parseListen(listen);
  if (parsed === undefined) return `http://${listen}`;
  // A front door listening on every interface answers on loopback too.
  const host = parsed.host === '0.0.0.0' ? '127.0.0.1' : parsed.host === '::' ? '::1' : parsed.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${parsed.port}`;
}

export async function readRingInForce(frontDoor: string, timeoutMs: number): Promise<RingInForce> {
  const url = `${frontDoor.replace(/\/+$/, '')}/-/status`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return { ok: false, url, reason: `it answered ${res.status}` };
    const body = (await res.json()) as { shards?: unknown };
    if (!Array.isArray(body.shards)) return { ok: false, url, reason: 'its answer lists no shards (is it a pushring front door?)' };
    const shards = body.shards.flatMap((s: unknown) =>
      typeof s === 'object' && s !== null && typeof (s as { name?: unknown }).name === 'string' ? [(s as { name: string }).name] : [],
    );
    return { ok: true, url, shards: new Set(shards) };
  } catch (err) {
    // fetch says only "fetch failed"; its cause says why (ECONNREFUSED, a time-out, a bad port).
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { ok: false, url, reason: cause?.code ?? cause?.message ?? (err as Error).message };
  }
}
