/**
 * A real Prometheus on a free loopback port, with its own configuration directory and TSDB.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort, removeTempDir, requireBinary, spawnProcess, tempDir, waitFor, type ManagedProcess } from './processes.js';

/** Where the shipped config/prometheus.yml reads the targets pushring writes (its file_sd). */
export const SHIPPED_TARGETS = 'targets/pushring-targets.json';

/**
 * The shipped config/prometheus.yml and its rule files, with test intervals (1 s) and this run's
 * front door as the `pushring` job's target; `metricsPath` is where that job scrapes the front
 * door's own metrics. Throws when the shipped file does not read SHIPPED_TARGETS or lacks the job.
 */
export async function shippedPrometheusConfig(frontDoorUrl: string): Promise<{ yaml: string; files: Record<string, string>; metricsPath: string }> {
  const config = parse(await readFile('config/prometheus.yml', 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: Array<{
      job_name: string;
      metrics_path?: string;
      file_sd_configs?: Array<{ files: string[]; refresh_interval?: string }>;
      static_configs?: Array<{ targets: string[] }>;
    }>;
  };
  config.global = { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' };
  for (const job of config.scrape_configs) {
    for (const sd of job.file_sd_configs ?? []) {
      if (JSON.stringify(sd.files) !== JSON.stringify([SHIPPED_TARGETS]))
        throw new Error(`job ${job.job_name} reads ${JSON.stringify(sd.files)}, not ${SHIPPED_TARGETS}`);
      sd.refresh_interval = '1s';
    }
  }
  const doors = config.scrape_configs.find((j) => j.job_name === 'pushring');
  if (doors === undefined) throw new Error('config/prometheus.yml has no scrape job "pushring"');
  doors.static_configs = [{ targets: [new URL(frontDoorUrl).host] }];
  const files: Record<string, string> = {};
  for (const rules of config.rule_files) files[rules] = await readFile(join('config', rules), 'utf8');
  return { yaml: stringify(config), files, metricsPath: doors.metrics_path ?? '/metrics' };
}

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
