/**
 * The judge's index in Redis, shared by every front door: one hash, read with HMGET, changed by
 * one Lua script that checks every expectation and then applies the change, so that two front
 * doors that judged against the same state cannot both record conflicting pushes. The contract
 * is IndexStore's (judge/index-store.ts); the memory store is its reference.
 *
 * The client is the runtime's shared one (limits/redis-client.ts): no offline queue and no
 * retries, so while Redis is down a command fails at once, and while it hangs it fails after the
 * client's command time-out. This store never closes it.
 *
 * On Redis Cluster, ioredis sends a command again when its node's connection closed before the
 * answer came (retryDelayOnFailover): a commit that ran but whose answer was lost may run twice.
 * A commit with expectations then fails its second run (it resolves false although it applied
 * once), which the judge treats as a conflict and re-judges against what the table now holds.
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { FieldValue, IndexChange } from '../core/index-table.js';
import { checkCounterDeltas, IndexStoreError, type IndexStore } from './index-store.js';

/*
 * ARGV: the counts of the sections, then the sections, each a run of arguments:
 *   ARGV[1] p: expected present — p fields, then their p values
 *   ARGV[2] a: expected absent — a fields
 *   ARGV[3] s: set — s field/value pairs (the last set of each field only: sets of distinct
 *              fields commute, so this is applyChange's outcome)
 *   ARGV[4] d: deleted — d fields
 *   the rest:  counter adds, in the change's order — n fields, then their n deltas
 * Lua's unpack is bounded by its C stack (LUAI_MAXCSTACK, 8,000 values), so every command takes
 * at most CHUNK arguments from ARGV (an even number: HSET takes pairs) and a large change is
 * several commands within one script.
 * Nothing is written before every expectation has been checked: a failed one leaves the hash as
 * it was. Counters follow applyChange: absent (or blank) is 0, a value that is not a number is
 * NaN, and a result of 0 or less (or NaN) deletes the field; a result is written back as `%.17g`,
 * which prints a safe integer exactly as JavaScript's String() does.
 */
const COMMIT = `
local key = KEYS[1]
local CHUNK = 1000
local np, na, ns, nd = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

local function in_chunks(first, last, step, command)
  for i = first, last, step do redis.call(command, key, unpack(ARGV, i, math.min(i + step - 1, last))) end
end
local function number_of(value)
  if not value then return 0 end
  local n = tonumber(value)
  if n then return n end
  if string.find(value, '^%s*$') then return 0 end
  return 0 / 0
end

local at = 5
local values = at + np
for i = at, values - 1, CHUNK do
  local got = redis.call('hmget', key, unpack(ARGV, i, math.min(i + CHUNK - 1, values - 1)))
  for j = 1, #got do
    if got[j] ~= ARGV[values + i - at + j - 1] then return 0 end
  end
end
at = at + 2 * np
for i = at, at + na - 1, CHUNK do
  local got = redis.call('hmget', key, unpack(ARGV, i, math.min(i + CHUNK - 1, at + na - 1)))
  for j = 1, #got do
    if got[j] then return 0 end
  end
end
at = at + na

in_chunks(at, at + 2 * ns - 1, CHUNK, 'hset')
at = at + 2 * ns
in_chunks(at, at + nd - 1, CHUNK, 'hdel')
at = at + nd

local nadd = (#ARGV - at + 1) / 2
local deltas = at + nadd
local counters, order = {}, {}
for i = at, deltas - 1, CHUNK do
  local got = redis.call('hmget', key, unpack(ARGV, i, math.min(i + CHUNK - 1, deltas - 1)))
  for j = 1, #got do
    local k = i + j - 1
    local field = ARGV[k]
    local current = counters[field]
    if current == nil then
      current = number_of(got[j])
      order[#order + 1] = field
    end
    local sum = current + tonumber(ARGV[deltas + k - at])
    if sum > 0 then counters[field] = sum else counters[field] = 0 end
  end
end
local puts, dels = {}, {}
for _, field in ipairs(order) do
  local n = counters[field]
  if n > 0 then
    puts[#puts + 1] = field
    puts[#puts + 1] = string.format('%.17g', n)
  else
    dels[#dels + 1] = field
  end
end
for i = 1, #puts, CHUNK do redis.call('hset', key, unpack(puts, i, math.min(i + CHUNK - 1, #puts))) end
for i = 1, #dels, CHUNK do redis.call('hdel', key, unpack(dels, i, math.min(i + CHUNK - 1, #dels))) end
return 1
`;

const COMMIT_SHA = createHash('sha1').update(COMMIT).digest('hex');

/** EVALSHA's arguments for a change: the script, 1 key, the key, then ARGV as laid out above. */
function encodeCommit(key: string, change: IndexChange): string[] {
  const presentFields: string[] = [];
  const presentValues: string[] = [];
  const absent: string[] = [];
  for (const [field, value] of change.expect) {
    if (value === undefined) absent.push(field);
    else {
      presentFields.push(field);
      presentValues.push(value);
    }
  }
  const last = new Map<string, FieldValue>();
  for (const [field, value] of change.set) last.set(field, value);
  const puts: string[] = [];
  const dels: string[] = [];
  for (const [field, value] of last) {
    if (value === undefined) dels.push(field);
    else puts.push(field, value);
  }
  const args = [COMMIT_SHA, '1', key, String(presentFields.length), String(absent.length), String(puts.length / 2), String(dels.length)];
  // Pushed one by one: a spread into push() of a very large change would exceed the call stack.
  for (const part of [presentFields, presentValues, absent, puts, dels]) for (const arg of part) args.push(arg);
  for (const [field] of change.add) args.push(field);
  for (const [, delta] of change.add) args.push(String(delta));
  return args;
}

const isNoScript = (err: unknown): boolean => err instanceof Error && err.message.startsWith('NOSCRIPT');

/**
 * The index in the hash `<prefix>{judge}`: one index for the whole ring (docs/judging.md), one
 * key, so each script runs whole on one Redis Cluster node.
 */
export function createRedisIndexStore(client: Redis | Cluster, keyPrefix: string): IndexStore {
  const key = `${keyPrefix}{judge}`;
  const unavailable = (what: string, err: unknown): IndexStoreError =>
    new IndexStoreError(`the judge's index in Redis could not be ${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });

  const runCommit = async (args: string[]): Promise<unknown> => {
    try {
      return await client.call('EVALSHA', args);
    } catch (err) {
      // A restarted Redis (or another Cluster node) has no cached script yet: send it whole once.
      if (!isNoScript(err)) throw err;
      args[0] = COMMIT;
      return await client.call('EVAL', args);
    }
  };

  return {
    async read(fields) {
      if (fields.length === 0) return [];
      let values: Array<string | null>;
      try {
        // An argument array, not a spread: a read of many thousand fields stays one call.
        values = (await client.call('HMGET', [key, ...fields])) as Array<string | null>;
      } catch (err) {
        throw unavailable('read', err);
      }
      return values.map((v) => v ?? undefined);
    },
    async commit(change) {
      checkCounterDeltas(change);
      if (change.expect.length === 0 && change.set.length === 0 && change.add.length === 0) return true;
      try {
        return (await runCommit(encodeCommit(key, change))) === 1;
      } catch (err) {
        throw unavailable('changed', err);
      }
    },
    async scan(prefix, cursor, count) {
      let reply: [string, string[]];
      try {
        reply = await client.hscan(key, cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', Math.max(1, count));
      } catch (err) {
        throw unavailable('scanned', err);
      }
      const [next, flat] = reply;
      const entries: Array<[string, string]> = [];
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push([flat[i]!, flat[i + 1]!]);
      return { entries, cursor: next };
    },
    async close() {
      // The client is the runtime's; nothing of this store's own stays open.
    },
  };
}

/** A literal prefix for MATCH: Redis's glob treats * ? [ ] and \ specially, and \ escapes each. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
