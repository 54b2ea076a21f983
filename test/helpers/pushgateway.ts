import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import type { KeyPair } from './certs.js';
import { freePort, removeTempDir, requireBinary, spawnProcess, tempDir, waitFor, WaitCancelledError, type ManagedProcess } from './processes.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One entry of a family as /api/v1/metrics renders it; numbers stay the Go-formatted strings the API returns. */
export interface MetricEntry {
  labels: Record<string, string>;
  [field: string]: JsonValue;
}

export interface MetricFamilyView {
  type: string;
  help: string;
  metrics: MetricEntry[];
}

export interface Group {
  labels: Record<string, string>;
  metrics: Record<string, MetricFamilyView>;
}

export type RawGroup = Record<string, JsonValue>;

/**
 * A Pushgateway behind `--web.config.file` (exporter-toolkit's web config): TLS with `tls`, a
 * required client certificate with `clientCa`, basic auth with `basicAuth`. The helper's own
 * requests trust `ca` and present `clientCert` and the credentials.
 */
export interface WebConfig {
  /** The server certificate and key; the gateway's `url` is then `https://…`. */
  tls?: KeyPair;
  /** The CA file the helper trusts for the gateway's certificate (the one that signed `tls`). */
  ca?: string;
  /** CA file of client certificates; given: the gateway requires and verifies one. */
  clientCa?: string;
  /** The client certificate the helper presents when `clientCa` is given. */
  clientCert?: KeyPair;
  /** The one user of `basic_auth_users` (the password is stored as a bcrypt hash). */
  basicAuth?: { username: string; password: string };
}

export interface PushgatewayOptions {
  port?: number;
  args?: string[];
  persistence?: boolean;
  webConfig?: WebConfig;
}

/** How the helper reaches a gateway: a TLS agent when it serves HTTPS, and its credentials. */
export interface GatewayAccess {
  readonly dispatcher?: Dispatcher;
  readonly headers?: Readonly<Record<string, string>>;
}

/** fetch with a gateway's access; plain global fetch for a plain gateway. */
export async function fetchGateway(url: string, access: GatewayAccess | undefined, init: { method?: string; signal?: AbortSignal } = {}): Promise<Response> {
  if (access === undefined) return fetch(url, init);
  return undiciFetch(url, {
    ...init,
    ...(access.headers === undefined ? {} : { headers: { ...access.headers } }),
    ...(access.dispatcher === undefined ? {} : { dispatcher: access.dispatcher }),
  });
}

/** Writes the web config file of `web` into `dir`; returns its path and how to reach the gateway. */
async function writeWebConfig(dir: string, web: WebConfig): Promise<{ file: string; access: GatewayAccess }> {
  const lines: string[] = [];
  if (web.tls !== undefined) {
    lines.push('tls_server_config:', `  cert_file: ${JSON.stringify(web.tls.certFile)}`, `  key_file: ${JSON.stringify(web.tls.keyFile)}`);
    if (web.clientCa !== undefined) lines.push('  client_auth_type: RequireAndVerifyClientCert', `  client_ca_file: ${JSON.stringify(web.clientCa)}`);
  }
  if (web.basicAuth !== undefined) {
    // Cost 4, the least bcrypt allows: the gateway checks it on every request.
    lines.push('basic_auth_users:', `  ${JSON.stringify(web.basicAuth.username)}: ${JSON.stringify(bcrypt.hashSync(web.basicAuth.password, 4))}`);
  }
  const file = join(dir, 'web-config.yml');
  await writeFile(file, lines.join('\n') + '\n');
  const connect: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  if (web.ca !== undefined) connect.ca = await readFile(web.ca);
  if (web.clientCert !== undefined) [connect.cert, connect.key] = [await readFile(web.clientCert.certFile), await readFile(web.clientCert.keyFile)];
  const basic = web.basicAuth;
  return {
    file,
    access: {
      ...(web.tls === undefined ? {} : { dispatcher: new Agent({ connect }) }),
      ...(basic === undefined ? {} : { headers: { authorization: `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}` } }),
    },
  };
}

export interface RestartOptions {
  /** Replaces the flags the gateway was started with (PushgatewayOptions.args); the helper's own defaults stay. */
  args?: readonly string[];
  /** SIGKILL by default; SIGTERM drains the queued writes and flushes the persistence file first. */
  signal?: NodeJS.Signals;
}

export interface Pushgateway {
  /** `http://127.0.0.1:port`, or `https://…` behind a web config with `tls`. */
  readonly url: string;
  /** How the helper reaches it (undefined for a plain gateway): for tests' own requests. */
  readonly access: GatewayAccess | undefined;
  readonly port: number;
  /** The current process; replaced by restart(). */
  readonly process: ManagedProcess;
  readonly dir: string;
  readonly logFile: string;
  /** SIGKILL by default; SIGTERM gives the graceful shutdown that flushes the persistence file. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Same port, same directory (and persistence file); by default the same flags, after a SIGKILL. */
  restart(options?: RestartOptions): Promise<void>;
  stop(): void;
  cont(): void;
  groups(): Promise<Group[]>;
  wipe(): Promise<void>;
  close(): Promise<void>;
}

// Bookkeeping the gateway adds to every group; it differs between backends by construction.
const DROPPED_GROUP_KEYS = new Set(['labels', 'last_push_successful', 'push_time_seconds', 'push_failure_time_seconds']);
const DROPPED_ENTRY_KEYS = new Set(['timestamp', 'timestamp_ms', 'time_stamp']);

function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// Rebuilding objects in sorted key order makes JSON.stringify usable as a canonical form.
function sortKeysDeep(value: JsonValue): JsonValue {
  if (Array.isArray(value)) {
    return value.map(sortKeysDeep);
  }
  if (!isObject(value)) {
    return value;
  }
  const sorted: { [key: string]: JsonValue } = {};
  for (const key of Object.keys(value).sort(compareStrings)) {
    const child = value[key];
    if (child !== undefined) {
      sorted[key] = sortKeysDeep(child);
    }
  }
  return sorted;
}

function toStringRecord(value: JsonValue | undefined, what: string): Record<string, string> {
  if (!isObject(value)) {
    throw new Error(`expected ${what} to be an object, got ${JSON.stringify(value)}`);
  }
  const result: Record<string, string> = {};
  for (const key of Object.keys(value).sort(compareStrings)) {
    const item = value[key];
    if (typeof item !== 'string') {
      throw new Error(`expected ${what}.${key} to be a string, got ${JSON.stringify(item)}`);
    }
    result[key] = item;
  }
  return result;
}

function normaliseEntry(raw: JsonValue, what: string): MetricEntry {
  if (!isObject(raw)) {
    throw new Error(`expected ${what} to be an object, got ${JSON.stringify(raw)}`);
  }
  const entry: MetricEntry = { labels: toStringRecord(raw['labels'], `${what}.labels`) };
  for (const key of Object.keys(raw).sort(compareStrings)) {
    const value = raw[key];
    if (key === 'labels' || DROPPED_ENTRY_KEYS.has(key) || value === undefined) {
      continue;
    }
    entry[key] = sortKeysDeep(value);
  }
  return entry;
}

function normaliseFamily(raw: JsonValue | undefined, what: string): MetricFamilyView {
  if (!isObject(raw)) {
    throw new Error(`expected ${what} to be an object, got ${JSON.stringify(raw)}`);
  }
  const { type, help, metrics } = raw;
  if (typeof type !== 'string' || !Array.isArray(metrics)) {
    throw new Error(`unexpected family shape for ${what}: ${JSON.stringify(raw)}`);
  }
  const entries = metrics.map((m, i) => normaliseEntry(m, `${what}.metrics[${i}]`));
  // Entry order follows push order, which a sharding proxy is free to change.
  entries.sort((a, b) => compareStrings(JSON.stringify(a.labels), JSON.stringify(b.labels)));
  // The API omits empty help (Go omitempty), so absence and '' mean the same thing.
  return { type, help: typeof help === 'string' ? help : '', metrics: entries };
}

export function normaliseGroups(data: readonly JsonValue[]): Group[] {
  const groups = data.map((raw, i): Group => {
    if (!isObject(raw)) {
      throw new Error(`expected group ${i} to be an object, got ${JSON.stringify(raw)}`);
    }
    const labels = toStringRecord(raw['labels'], `group[${i}].labels`);
    const metrics: Record<string, MetricFamilyView> = {};
    for (const name of Object.keys(raw).sort(compareStrings)) {
      if (!DROPPED_GROUP_KEYS.has(name)) {
        metrics[name] = normaliseFamily(raw[name], `group[${i}].${name}`);
      }
    }
    return { labels, metrics };
  });
  // The gateway iterates a Go map here, so its group order is random even between two identical reads.
  return groups.sort((a, b) => compareStrings(JSON.stringify(a.labels), JSON.stringify(b.labels)));
}

export async function rawGroups(url: string, signal?: AbortSignal, access?: GatewayAccess): Promise<RawGroup[]> {
  const res = await fetchGateway(`${url}/api/v1/metrics`, access, signal === undefined ? {} : { signal });
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`GET ${url}/api/v1/metrics returned ${res.status}: ${text}`);
  }
  const body = JSON.parse(text) as JsonValue;
  if (!isObject(body) || body['status'] !== 'success') {
    throw new Error(`GET ${url}/api/v1/metrics returned an unexpected body: ${text}`);
  }
  const data = body['data'];
  if (data === undefined || data === null) {
    return [];
  }
  if (!Array.isArray(data) || !data.every(isObject)) {
    throw new Error(`GET ${url}/api/v1/metrics returned non-array data: ${text}`);
  }
  return data;
}

function flagName(arg: string): string {
  return arg.split('=', 1)[0] ?? arg;
}

// kingpin in 1.5.1 exits with "flag ... cannot be repeated", so a caller's flag must replace our default.
function mergeArgs(defaults: readonly string[], overrides: readonly string[]): string[] {
  const overridden = new Set(overrides.filter((a) => a.startsWith('--')).map(flagName));
  return [...defaults.filter((a) => !overridden.has(flagName(a))), ...overrides];
}

// Parses /proc/net/tcp to prove the listener on the port is ours: freePort() can race other
// workers, and a ready probe alone would happily accept a stranger's gateway on the same port.
async function isListenerOwnedBy(pid: number, port: number): Promise<boolean> {
  let table: string;
  try {
    table = await readFile('/proc/net/tcp', 'utf8');
  } catch {
    return true;
  }
  const wanted = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1] === wanted && cols[3] === '0A' && cols[9] !== undefined) {
      inodes.add(`socket:[${cols[9]}]`);
    }
  }
  if (inodes.size === 0) {
    return false;
  }
  const fdDir = `/proc/${pid}/fd`;
  for (const fd of await readdir(fdDir)) {
    try {
      if (inodes.has(await readlink(join(fdDir, fd)))) {
        return true;
      }
    } catch {
      // The descriptor closed between readdir and readlink.
    }
  }
  return false;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function readLogTail(logFile: string): Promise<string> {
  try {
    return (await readFile(logFile, 'utf8')).split('\n').slice(-20).join('\n');
  } catch {
    return '<no log>';
  }
}

async function launch(bin: string, args: readonly string[], port: number, logFile: string, base: string, access?: GatewayAccess): Promise<ManagedProcess> {
  const proc = spawnProcess(bin, args, { logFile });
  // A gateway that dies (bad flag, port taken) should fail the start at once, not after the timeout.
  const died = new AbortController();
  void proc.exited.then(() => died.abort());
  try {
    await waitFor(
      async (signal) => {
        const res = await fetchGateway(`${base}/-/ready`, access, { signal });
        await res.body?.cancel();
        return res.status === 200 && (await isListenerOwnedBy(proc.pid, port));
      },
      { what: `pushgateway ready on 127.0.0.1:${port}`, signal: died.signal },
    );
  } catch (err) {
    proc.kill('SIGKILL');
    const code = await proc.exited;
    const reason = err instanceof WaitCancelledError ? `exited with code ${String(code)}` : describe(err);
    throw new Error(
      `prometheus-pushgateway ${bin} ${args.join(' ')} did not become ready on port ${port}: ${reason}; ` + `log ${logFile}:\n${await readLogTail(logFile)}`,
    );
  }
  return proc;
}

export async function startPushgateway(opts: PushgatewayOptions = {}): Promise<Pushgateway> {
  const bin = requireBinary('prometheus-pushgateway');
  const dir = await tempDir('pushring-pgw-');
  const logFile = join(dir, 'pgw.log');
  const persistence = opts.persistence ?? false;
  const web = opts.webConfig === undefined ? undefined : await writeWebConfig(dir, opts.webConfig);
  const scheme = opts.webConfig?.tls === undefined ? 'http' : 'https';
  const access = web?.access;

  const buildArgs = (port: number, callerArgs: readonly string[]): string[] =>
    mergeArgs(
      [
        `--web.listen-address=127.0.0.1:${port}`,
        // An empty value keeps state in memory only; omitting the flag would make the Debian build
        // read and write the shared /var/lib/prometheus/pushgateway.data.
        `--persistence.file=${persistence ? join(dir, 'pgw.data') : ''}`,
        // The 5m default would make "persisted, then crashed" untestable in a test's time budget.
        ...(persistence ? ['--persistence.interval=50ms'] : []),
        '--web.enable-admin-api',
        '--log.level=warn',
        ...(web === undefined ? [] : [`--web.config.file=${web.file}`]),
      ],
      callerArgs,
    );

  let port = opts.port ?? (await freePort());
  let proc: ManagedProcess | undefined;
  // Only a port we picked ourselves may be swapped when another process wins the race for it.
  for (let attempt = 1; proc === undefined; attempt += 1) {
    try {
      proc = await launch(bin, buildArgs(port, opts.args ?? []), port, logFile, `${scheme}://127.0.0.1:${port}`, access);
    } catch (err) {
      if (opts.port !== undefined || attempt >= 3) {
        await removeTempDir(dir);
        throw err;
      }
      port = await freePort();
    }
  }

  let current: ManagedProcess = proc;
  let args = buildArgs(port, opts.args ?? []);
  const url = `${scheme}://127.0.0.1:${port}`;
  let closed = false;

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    current.kill(signal);
    if (signal !== 'SIGKILL') {
      // A stopped gateway cannot act on SIGTERM until it runs again.
      current.cont();
    }
    await current.exited;
  };

  const gateway: Pushgateway = {
    url,
    access,
    port,
    dir,
    logFile,
    get process() {
      return current;
    },
    kill,
    async restart(options = {}) {
      if (closed) {
        throw new Error(`pushgateway on port ${port} is closed`);
      }
      await kill(options.signal ?? 'SIGKILL');
      if (options.args !== undefined) {
        args = buildArgs(port, options.args);
      }
      current = await launch(bin, args, port, logFile, url, access);
    },
    stop() {
      current.stop();
    },
    cont() {
      current.cont();
    },
    async groups() {
      return normaliseGroups(await rawGroups(url, undefined, access));
    },
    async wipe() {
      const res = await fetchGateway(`${url}/api/v1/admin/wipe`, access, { method: 'PUT' });
      const text = await res.text();
      if (res.status !== 202 && res.status !== 200) {
        throw new Error(`PUT ${url}/api/v1/admin/wipe returned ${res.status}: ${text}`);
      }
      await waitFor(async (signal) => (await rawGroups(url, signal, access)).length === 0, {
        what: `pushgateway ${url} to be empty after wipe`,
      });
    },
    async close() {
      if (closed) {
        return;
      }
      closed = true;
      await kill('SIGKILL');
      await (access?.dispatcher as Agent | undefined)?.close();
      await removeTempDir(dir);
    },
  };
  return gateway;
}
