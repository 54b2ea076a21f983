import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface ManagedProcess {
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code, or null when a signal ended the process. Never rejects. */
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
  stop(): void;
  cont(): void;
  alive(): boolean;
}

export interface SpawnOptions {
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface WaitForOptions {
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
  /** Ends the wait early, e.g. once the process being probed has died. */
  signal?: AbortSignal;
}

// Binaries the suites rely on, mapped to the Debian package that ships them.
const DEBIAN_PACKAGES: Record<string, string> = {
  'prometheus-pushgateway': 'prometheus-pushgateway',
  'redis-server': 'redis-server',
  wrk: 'wrk',
  prometheus: 'prometheus',
  promtool: 'prometheus',
  openssl: 'openssl',
  jq: 'jq',
  curl: 'curl',
  chromium: 'chromium',
};

interface Registry {
  processes: Set<ManagedProcess>;
  tempDirs: Set<string>;
}

// Vitest may evaluate this module more than once in one worker; a single registry on globalThis
// keeps one set of hooks per process instead of one per evaluation.
const REGISTRY_KEY = Symbol.for('pushring.test.processes');

function getRegistry(): Registry {
  const holder = globalThis as typeof globalThis & { [REGISTRY_KEY]?: Registry };
  const existing = holder[REGISTRY_KEY];
  if (existing !== undefined) {
    return existing;
  }
  const registry: Registry = { processes: new Set(), tempDirs: new Set() };
  holder[REGISTRY_KEY] = registry;
  installExitHooks(registry);
  return registry;
}

function installExitHooks(registry: Registry): void {
  const killAll = (): void => {
    // One failure must not spare the remaining processes, and a throw here would mask the real crash.
    for (const proc of registry.processes) {
      try {
        proc.kill('SIGKILL');
      } catch {
        // Best effort on the way out.
      }
    }
    // Synchronous on purpose: 'exit' listeners cannot await.
    for (const dir of registry.tempDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // Best effort on the way out.
      }
    }
  };
  process.on('exit', killAll);
  // Vitest tears its fork workers down with a bare SIGTERM, and Node's default SIGTERM action
  // skips 'exit' listeners, so without these a crashed suite would leak its gateways.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAll();
      process.off(signal, onSignal);
      // Only re-raise when nobody else wants the signal; otherwise we would override their shutdown.
      if (process.listenerCount(signal) === 0) {
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

export function killAllProcesses(): void {
  for (const proc of getRegistry().processes) {
    proc.kill('SIGKILL');
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected server address: ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function requireBinary(name: string): string {
  if (name.includes('/')) {
    if (isExecutableFile(name)) {
      return name;
    }
  } else {
    // Debian puts some daemons in sbin, which a non-login PATH often lacks.
    const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/bin'];
    for (const dir of dirs) {
      if (dir === '') {
        continue;
      }
      const candidate = join(dir, name);
      if (isExecutableFile(candidate)) {
        return candidate;
      }
    }
  }
  const pkg = DEBIAN_PACKAGES[name.split('/').pop() ?? name];
  const aptHint = pkg === undefined ? '' : ` (or \`apt-get install ${pkg}\`)`;
  // Throwing rather than skipping: a silently skipped behaviour suite looks exactly like a passing one.
  throw new Error(`required test binary '${name}' was not found on PATH, /usr/sbin or /usr/bin; ` + `run \`bash scripts/install-test-deps.sh\`${aptHint}`);
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const EXPIRED = Symbol('expired');
const CANCELLED = Symbol('cancelled');

export class WaitCancelledError extends Error {
  override name = 'WaitCancelledError';
}

export async function waitFor<T>(probe: (signal: AbortSignal) => Promise<T | undefined | false>, opts: WaitForOptions): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  // Aborting lets probes that talk to a frozen process (e.g. a SIGSTOPped gateway) give up at the deadline.
  const controller = new AbortController();
  let lastError: unknown;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<typeof EXPIRED>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`deadline for ${opts.what} passed`));
      resolve(EXPIRED);
    }, timeoutMs);
  });
  const cancelled = new Promise<typeof CANCELLED>((resolve) => {
    if (opts.signal?.aborted === true) {
      resolve(CANCELLED);
    }
    opts.signal?.addEventListener('abort', () => resolve(CANCELLED), { once: true });
  });
  try {
    for (;;) {
      try {
        const attempt = probe(controller.signal);
        // A probe that ignores the signal must not hold us past the deadline.
        attempt.catch(() => undefined);
        const result = await Promise.race([attempt, expired, cancelled]);
        if (result === EXPIRED) {
          break;
        }
        if (result === CANCELLED) {
          throw new WaitCancelledError(`cancelled waiting for ${opts.what}`);
        }
        if (result !== undefined && result !== false) {
          return result;
        }
      } catch (err) {
        if (err instanceof WaitCancelledError) {
          throw err;
        }
        lastError = err;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        break;
      }
      const pause = new Promise<void>((resolve) => setTimeout(resolve, Math.min(intervalMs, remaining)));
      if ((await Promise.race([pause, cancelled])) === CANCELLED) {
        throw new WaitCancelledError(`cancelled waiting for ${opts.what}`);
      }
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  const suffix = lastError === undefined ? '' : ` (last error: ${describeError(lastError)})`;
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${opts.what}${suffix}`);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
      throw err;
    }
  }
}

function taskStates(pid: number): string[] | undefined {
  try {
    return readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // The command name may contain spaces and parentheses; the state follows the last ')'.
      return stat.charAt(stat.lastIndexOf(')') + 2);
    });
  } catch {
    return undefined;
  }
}

// SIGSTOP is only queued by kill(2): the threads of a Go program keep serving requests until each one
// is interrupted, so a test that freezes a gateway and immediately sends a request can still get an answer.
// Blocking synchronously (typically well under a millisecond) keeps stop() correct for callers that do not await.
function waitUntilStopped(pid: number): void {
  const deadline = Date.now() + 2_000;
  for (;;) {
    const states = taskStates(pid);
    // No /proc (not Linux) or the process is gone: nothing left to wait for.
    if (states === undefined || states.length === 0 || states.every((state) => state === 'T' || state === 't' || state === 'Z')) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`process ${pid} did not stop within 2000ms after SIGSTOP (thread states: ${states.join('')})`);
    }
  }
}

export function spawnProcess(cmd: string, args: readonly string[], opts: SpawnOptions): ManagedProcess {
  // A file descriptor rather than a pipe: a Pushgateway blocks on writes to a pipe nobody drains.
  const logFd = openSync(opts.logFile, 'a');
  let child;
  try {
    child = spawn(cmd, args, {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: opts.env ?? process.env,
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    });
  } finally {
    // The child holds its own duplicate of the descriptor.
    closeSync(logFd);
  }
  let spawnError: Error | undefined;
  child.on('error', (err) => {
    spawnError = err;
  });
  const pid = child.pid;
  if (pid === undefined) {
    // Node reports ENOENT/EACCES through a later 'error' event, so the cause is usually not known yet.
    throw new Error(`failed to spawn ${cmd}: ${spawnError?.message ?? 'no pid assigned (missing or not executable?)'}`);
  }

  let hasExited = false;
  const registry = getRegistry();
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      hasExited = true;
      resolve(code);
    });
  });
  // The child stays referenced on purpose: unref'd, a script awaiting `exited` after kill() would see
  // its event loop drain and quit mid-cleanup. Leaks on crash are the exit and signal hooks' job.

  const managed: ManagedProcess = {
    pid,
    logFile: opts.logFile,
    exited,
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      // Once reaped, the pid (and thus the group id) may belong to someone else.
      if (!hasExited) {
        signalGroup(pid, signal);
      }
    },
    stop() {
      if (!hasExited) {
        signalGroup(pid, 'SIGSTOP');
        waitUntilStopped(pid);
      }
    },
    cont() {
      if (!hasExited) {
        signalGroup(pid, 'SIGCONT');
      }
    },
    alive() {
      return !hasExited;
    },
  };
  registry.processes.add(managed);
  void exited.then(() => registry.processes.delete(managed));
  return managed;
}

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  getRegistry().tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  getRegistry().tempDirs.delete(dir);
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all([...getRegistry().tempDirs].map((dir) => removeTempDir(dir)));
}
