/**
 * `npm run local` (scripts/local-stack.sh) run for real, on free ports and a temporary directory:
 * it serves pushes, stops every process it started however it is stopped, refuses to start on a
 * port already taken, and its Prometheus follows a live ring change.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { freePort, requireBinary, spawnProcess, tempDir, waitFor, type ManagedProcess } from '../helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';

interface LocalStack {
  readonly process: ManagedProcess;
  readonly dir: string;
  readonly log: string;
  readonly frontDoor: number;
  /** Shard a's two replicas, then shard b's. */
  readonly pushgateways: readonly number[];
  readonly prometheus: number;
  output(): string;
}

const started: LocalStack[] = [];
const extra: Pushgateway[] = [];
const blockers: Server[] = [];
afterEach(async () => {
  // The whole process group, whatever the test did to the script itself.
  for (const stack of started.splice(0)) {
    stack.process.kill('SIGKILL');
    await stack.process.exited;
  }
  await Promise.all(extra.splice(0).map((b) => b.close()));
  for (const blocker of blockers.splice(0)) blocker.close();
});

type Ports = Pick<LocalStack, 'dir' | 'frontDoor' | 'pushgateways' | 'prometheus'>;

/** Starts the script; `before` runs first, with the directory and ports it is given. */
async function launchLocalStack(opts: { prometheus: boolean; before?: (stack: Ports) => Promise<void> }): Promise<LocalStack> {
  requireBinary('prometheus-pushgateway');
  if (opts.prometheus) requireBinary('prometheus');
  const dir = await tempDir('pushring-local-stack-');
  const [frontDoor, a0, a1, b0, b1, prometheus] = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  const pushgateways = [a0!, a1!, b0!, b1!];
  await opts.before?.({ dir, frontDoor: frontDoor!, pushgateways, prometheus: prometheus! });
  const log = join(dir, 'local-stack.log');
  const env = {
    ...process.env,
    PUSHRING_LOCAL_DIR: dir,
    PUSHRING_LOCAL_PORT: String(frontDoor),
    PUSHRING_LOCAL_PUSHGATEWAY_PORTS: pushgateways.join(' '),
    PUSHRING_LOCAL_PROMETHEUS_PORT: String(prometheus),
    PUSHRING_LOCAL_PROMETHEUS: opts.prometheus ? 'auto' : 'off',
  };
  // Its own process group (spawnProcess), so that teardown can kill whatever it left behind.
  const proc = spawnProcess('bash', ['scripts/local-stack.sh'], { logFile: log, env });
  const stack = { process: proc, dir, log, frontDoor: frontDoor!, pushgateways, prometheus: prometheus!, output: () => readFileSync(log, 'utf8') };
  started.push(stack);
  return stack;
}

async function waitUntilUp(stack: LocalStack): Promise<void> {
  const exited = new AbortController();
  void stack.process.exited.then(() => exited.abort());
  try {
    await waitFor(async () => stack.output().includes('pushring is up.'), {
      what: 'the local stack to be up',
      timeoutMs: 45_000,
      intervalMs: 100,
      signal: exited.signal,
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}; its output:\n${stack.output()}`);
  }
}

/** Every process in the process group the script leads (it and all it started). */
function processGroup(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...: the command name may hold spaces and parentheses.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') members.push(Number(entry));
    } catch {
      // Gone while reading.
    }
  }
  return members;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

async function expectAllGone(stack: LocalStack, ports: readonly number[]): Promise<void> {
  for (const port of ports) expect(await listening(port), `port ${port} still answers`).toBe(false);
  // The script waits for its children; a grandchild (the log tee) may take a moment to be reaped.
  await waitFor(async () => processGroup(stack.process.pid).length === 0, {
    what: `every process of the local stack to be gone (left: ${processGroup(stack.process.pid).join(', ')})`,
  });
}

async function groupsOn(port: number): Promise<Array<Record<string, string>>> {
  const body = (await (await fetch(`http://127.0.0.1:${port}/api/v1/metrics`)).json()) as { data: Array<{ labels: Record<string, string> }> };
  return body.data.map((g) => g.labels);
}

describe('npm run local', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('serves pushes on the ports it is given, and %s to the script stops every process it started', async (signal) => {
    const stack = await launchLocalStack({ prometheus: false });
    await waitUntilUp(stack);
    const res = await fetch(`http://127.0.0.1:${stack.frontDoor}/metrics/job/local/instance/x`, { method: 'PUT', body: 'local_metric 1\n' });
    expect(res.status).toBe(200);
    const held = await Promise.all(stack.pushgateways.map((port) => groupsOn(port)));
    // Both replicas of the owner shard, and nothing on the other shard.
    const onA = held.slice(0, 2).map((g) => g.length);
    const onB = held.slice(2).map((g) => g.length);
    expect([onA, onB].sort()).toEqual([
      [0, 0],
      [1, 1],
    ]);
    expect(held.flat()).toEqual([
      { instance: 'x', job: 'local' },
      { instance: 'x', job: 'local' },
    ]);
    // Four Pushgateways and the front door (with its log tee), and the script itself.
    expect(processGroup(stack.process.pid).length).toBeGreaterThanOrEqual(6);
    // The page it points people at, and the group through the front door's reads.
    expect(stack.output()).toContain(`Open http://127.0.0.1:${stack.frontDoor}/ in a browser`);
    const page = await fetch(`http://127.0.0.1:${stack.frontDoor}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    await page.text();
    expect(await groupsOn(stack.frontDoor)).toEqual([{ instance: 'x', job: 'local' }]);

    // The script's own pid only, as a supervisor or a shell's `kill` does.
    process.kill(stack.process.pid, signal);
    expect(await stack.process.exited).toBe(0);
    expect(stack.output()).toContain(`local-stack: ${signal} received: stopping 5 process(es)`);
    await expectAllGone(stack, [stack.frontDoor, ...stack.pushgateways]);
  });

  it('stops everything and exits 1, naming it, when one of its processes dies', async () => {
    const stack = await launchLocalStack({ prometheus: false });
    await waitUntilUp(stack);
    const victim = stack.pushgateways[2]!;
    const pid = processGroup(stack.process.pid).find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`--web.listen-address=127.0.0.1:${victim}\0`));
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    expect(await stack.process.exited).toBe(1);
    expect(stack.output()).toContain(
      `local-stack: the Pushgateway of shard b, replica 0 (127.0.0.1:${victim}) exited (status 137): stopping the rest; its log (${stack.dir}/logs/pushgateway-${victim}.log) says:`,
    );
    expect(stack.output()).toContain('local-stack: stopping 4 process(es)');
    await expectAllGone(stack, [stack.frontDoor, ...stack.pushgateways]);
  });

  it('refuses to start when a port is taken, naming the port and what needed it, and starts nothing', async () => {
    const stack = await launchLocalStack({
      prometheus: false,
      before: async ({ pushgateways }) => {
        const blocker = createServer();
        blockers.push(blocker);
        await new Promise<void>((done) => blocker.listen(pushgateways[2], '127.0.0.1', done));
      },
    });
    expect(await stack.process.exited).toBe(1);
    const taken = stack.pushgateways[2]!;
    expect(stack.output()).toContain(`local-stack: port ${taken} is in use, so the Pushgateway of shard b, replica 0 cannot start: stop what holds it`);
    expect(stack.output()).not.toContain('stopped');
    await expectAllGone(stack, [stack.frontDoor, ...stack.pushgateways.filter((p) => p !== taken)]);
  });

  it('stops the processes it started and exits 1, naming it, when one fails to start', async () => {
    const stack = await launchLocalStack({
      prometheus: true,
      // Prometheus cannot open its storage when the path is a file: it exits during start-up,
      // once the Pushgateways and the front door are up.
      before: async ({ dir }) => {
        await mkdir(join(dir, 'prometheus'), { recursive: true });
        await writeFile(join(dir, 'prometheus', 'data'), 'not a directory\n');
      },
    });
    expect(await stack.process.exited).toBe(1);
    expect(stack.output()).toContain(
      `local-stack: Prometheus (127.0.0.1:${stack.prometheus}) exited during start-up (status 2); its log (${stack.dir}/logs/prometheus.log) says:`,
    );
    expect(stack.output()).toMatch(/^ {4}.*not a directory/m);
    expect(stack.output()).toContain('local-stack: stopping 5 process(es)');
    await expectAllGone(stack, [stack.frontDoor, ...stack.pushgateways, stack.prometheus]);
  });
});

interface ActiveTarget {
  scrapePool: string;
  labels: Record<string, string>;
}

describe('the local stack follows the ring', () => {
  it('points the front door, with the default settings, at the targets file its Prometheus reads', async () => {
    const pushring = parse(await readFile('config/pushring.yaml', 'utf8')) as { discovery?: { file?: string } };
    const prometheus = parse(await readFile('config/prometheus.yml', 'utf8')) as {
      scrape_configs: Array<{ job_name: string; file_sd_configs?: Array<{ files: string[] }> }>;
    };
    const files = prometheus.scrape_configs.find((job) => job.job_name === 'pushgateway')?.file_sd_configs?.flatMap((sd) => sd.files);
    // The script runs the front door from the root and Prometheus on a copy in .local/prometheus/.
    expect(files?.map((f) => resolve('.local/prometheus', f))).toEqual([resolve(pushring.discovery?.file ?? '(no discovery.file)')]);
  });

  it('rewrites the targets when a shard is added live, and Prometheus scrapes the new shard', async () => {
    const stack = await launchLocalStack({ prometheus: true });
    await waitUntilUp(stack);
    const targetsFile = join(stack.dir, 'prometheus', 'targets', 'pushring-targets.json');
    const inFile = async (): Promise<string[]> =>
      (JSON.parse(await readFile(targetsFile, 'utf8')) as Array<{ targets: string[]; labels: Record<string, string> }>)
        .map((t) => `${t.labels['shard']}/${t.labels['replica']} ${t.targets.join(',')}`)
        .sort();
    const scraped = async (): Promise<string[]> => {
      const res = await fetch(`http://127.0.0.1:${stack.prometheus}/api/v1/targets?state=active`);
      const { data } = (await res.json()) as { data: { activeTargets: ActiveTarget[] } };
      return data.activeTargets
        .filter((t) => t.scrapePool === 'pushgateway')
        .map((t) => `${t.labels['shard']}/${t.labels['replica']} ${t.labels['instance']}`)
        .sort();
    };
    const [a0, a1, b0, b1] = stack.pushgateways.map((p) => `127.0.0.1:${p}`);
    const before = [`a/0 ${a0}`, `a/1 ${a1}`, `b/0 ${b0}`, `b/1 ${b1}`];
    expect(await inFile()).toEqual(before);
    await waitFor(async () => JSON.stringify(await scraped()) === JSON.stringify(before), {
      what: 'Prometheus to scrape the four replicas of the ring',
      timeoutMs: 30_000,
    });

    // The runbook: start the new shard's Pushgateways, then put the new ring in place.
    const [c0, c1] = [await startPushgateway(), await startPushgateway()];
    extra.push(c0, c1);
    const ringFile = join(stack.dir, 'pushring.yaml');
    const doc = parseDocument(await readFile(ringFile, 'utf8'));
    doc.addIn(['shards'], doc.createNode({ name: 'c', replicas: [c0.url, c1.url] }));
    await writeFile(`${ringFile}.new`, String(doc));
    await rename(`${ringFile}.new`, ringFile);

    const after = [...before, `c/0 127.0.0.1:${c0.port}`, `c/1 127.0.0.1:${c1.port}`].sort();
    await waitFor(async () => JSON.stringify(await inFile()) === JSON.stringify(after), { what: 'the targets file to list shard c', timeoutMs: 30_000 });
    await waitFor(async () => JSON.stringify(await scraped()) === JSON.stringify(after), { what: 'Prometheus to scrape shard c too', timeoutMs: 45_000 });

    process.kill(stack.process.pid, 'SIGTERM');
    expect(await stack.process.exited).toBe(0);
    await expectAllGone(stack, [stack.frontDoor, ...stack.pushgateways, stack.prometheus]);
  });
});
