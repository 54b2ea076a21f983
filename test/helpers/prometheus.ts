/**
 * A real Prometheus on a free loopback port, with its own configuration directory and TSDB.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, removeTempDir, requireBinary, spawnProcess, tempDir, waitFor, type ManagedProcess } from './processes.js';

export interface PrometheusServer {
  readonly url: string;
  /** The directory its prometheus.yml lives in; relative paths in the config resolve here. */
  readonly dir: string;
  readonly process: ManagedProcess;
  /** An instant query; the `result` array of the answer. */
  query(expr: string): Promise<PromSample[]>;
  /** GET /api/v1/<path>, the `data` of the answer. */
  api<T>(path: string): Promise<T>;
  close(): Promise<void>;
}

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** `files`: more files to write into the config directory before start (rules, targets). */
export async function startPrometheus(configYaml: string, files: Record<string, string> = {}): Promise<PrometheusServer> {
  const binary = requireBinary('prometheus');
  const dir = await tempDir('pushring-prometheus-');
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  await writeFile(join(dir, 'prometheus.yml'), configYaml);
  const port = await freePort();
  const proc = spawnProcess(
    binary,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { logFile: join(dir, 'prometheus.log'), cwd: dir },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, { what: 'Prometheus to be ready', timeoutMs: 30_000 });
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  return {
    url,
    dir,
    process: proc,
    api,
    async query(expr) {
      return (await api<{ result: PromSample[] }>(`query?query=${encodeURIComponent(expr)}`)).result;
    },
    async close() {
      proc.kill();
      await proc.exited;
      await removeTempDir(dir);
    },
  };
}
