/**
 * The pushring command: check-config in process, and `serve` as a real process over real
 * Pushgateways, stopped by SIGTERM.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ringOf } from '../../src/core/ring.js';
import { freePort, spawnProcess, tempDir, waitFor } from '../helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';
import { captureIo, runPushring } from '../helpers/cli.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const backends: Pushgateway[] = [];
afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
});

describe('pushring check-config', () => {
  it('accepts a valid file and summarises it', async () => {
    const { io, out } = captureIo();
    expect(await main(['check-config', 'config/pushring.yaml'], io)).toBe(0);
    expect(out()).toBe('config/pushring.yaml: valid: 2 shard(s), 4 replica(s), ack policy "one", listening on 127.0.0.1:9191\n');
  });

  it('explains every problem of an invalid file and exits 2', async () => {
    const dir = await tempDir('pushring-cli-');
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'listen: nowhere\nshards:\n  - name: a\n    replicas: ["tcp://x"]\n  - name: a\n    replicas: ["http://h:1"]\n');
    const { io, err } = captureIo();
    expect(await main(['check-config', file], io)).toBe(2);
    expect(err()).toContain(`${file} is not a valid configuration:`);
    expect(err()).toContain('- listen: "nowhere" is not host:port');
    expect(err()).toContain('- shards[0].replicas[0]: "tcp://x" must use http or https');
    expect(err()).toContain('- shards[1].name: shard name "a" is already used by shards[0]');
  });

  it('takes the file as --config, as every other command does', async () => {
    const run = await runPushring(['check-config', '--config', 'config/pushring.yaml']);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('config/pushring.yaml: valid: 2 shard(s), 4 replica(s), ack policy "one", listening on 127.0.0.1:9191\n');
    expect(run.code).toBe(0);
    const both = await runPushring(['check-config', '--config', 'config/pushring.yaml', 'config/pushring.yaml']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give exactly one file');
  });

  it('names the file, line and column of a YAML syntax error, and what is wrong', async () => {
    const dir = await tempDir('pushring-cli-');
    const file = join(dir, 'indented.yaml');
    await writeFile(file, 'shards:\n  - name: a\n   replicas: ["http://h:1"]\n');
    const run = await runPushring(['check-config', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `pushring: ${file} is not a valid configuration:\n` +
        '  - (file): YAML syntax error at line 3, column 1: Sequence item without - indicator (line 3 reads: "   replicas: [\\"http://h:1\\"]")\n',
    );
  });

  it('says what is wrong with the command line', async () => {
    const missing = captureIo();
    expect(await main(['check-config', '/nonexistent.yaml'], missing.io)).toBe(2);
    expect(missing.err()).toContain('cannot read');
    const unknown = captureIo();
    expect(await main(['launch'], unknown.io)).toBe(2);
    expect(unknown.err()).toContain('unknown command "launch"');
    const noConfig = captureIo();
    expect(await main(['serve'], noConfig.io)).toBe(2);
    expect(noConfig.err()).toContain('--config <file> is required');
  });
});

describe('pushring sd write', () => {
  it('writes the file_sd targets once, then reports them unchanged', async () => {
    const dir = await tempDir('pushring-sd-cli-');
    const out = join(dir, 'targets.json');
    const first = captureIo();
    expect(await main(['sd', 'write', '--config', 'config/pushring.yaml', '--out', out], first.io)).toBe(0);
    expect(first.out()).toBe(`${out}: wrote 4 target(s) in 2 shard(s)\n`);
    const targets = JSON.parse(await readFile(out, 'utf8')) as Array<{ targets: string[]; labels: Record<string, string> }>;
    expect(targets.map((t) => `${t.targets[0]} ${t.labels['shard']}/${t.labels['replica']}`)).toEqual([
      '127.0.0.1:9091 a/0',
      '127.0.0.1:9092 a/1',
      '127.0.0.1:9093 b/0',
      '127.0.0.1:9094 b/1',
    ]);
    const again = captureIo();
    expect(await main(['sd', 'write', '--config', 'config/pushring.yaml', '--out', out], again.io)).toBe(0);
    expect(again.out()).toBe(`${out}: unchanged, 4 target(s) in 2 shard(s)\n`);
  });

  it('says in one line what failed and what to do when the destination directory is missing', async () => {
    const dir = await tempDir('pushring-sd-cli-');
    const out = join(dir, 'missing', 'targets.json');
    const run = await runPushring(['sd', 'write', '--config', 'config/pushring.yaml', '--out', out]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `pushring sd write: cannot write ${out}: the directory ${join(dir, 'missing')} does not exist; create it (mkdir -p ${join(dir, 'missing')}) or give another --out\n`,
    );
  });

  it('asks for a destination when the configuration names none', async () => {
    // config/pushring.yaml names one (the local stack's Prometheus reads it): a file that does not.
    const dir = await tempDir('pushring-sd-cli-');
    const config = join(dir, 'pushring.yaml');
    await writeFile(config, 'shards:\n  - name: a\n    replicas: ["http://127.0.0.1:9091"]\n');
    const { io, err } = captureIo();
    expect(await main(['sd', 'write', '--config', config], io)).toBe(2);
    expect(err()).toContain('sets no discovery.file; give --out <path>');
  });
});

describe('pushring reconcile', () => {
  it('plans without touching anything in a dry run, then repairs, and reports both', async () => {
    const [a, b] = [await startPushgateway(), await startPushgateway()];
    backends.push(a, b);
    // A group one replica has and its twin lacks, as after a restart.
    expect((await fetch(`${a.url}/metrics/job/lonely`, { method: 'PUT', body: 'lonely 1\n' })).status).toBe(200);
    const dir = await tempDir('pushring-reconcile-');
    const config = join(dir, 'pushring.yaml');
    await writeFile(config, `shards:\n  - name: a\n    replicas: ["${a.url}", "${b.url}"]\n`);

    const dry = captureIo();
    expect(await main(['reconcile', '--config', config, '--dry-run'], dry.io)).toBe(0);
    expect(dry.out()).toContain('shard a: 1 action(s) planned\n');
    expect(dry.out()).toContain('  would copy {job="lonely"} from a/0 to a/1 (missing)\n');
    expect(dry.out()).toMatch(/^dry run: 1 shard\(s\), 1 group copies read, 1 action\(s\) planned in \d+ ms$/m);
    expect(await b.groups()).toEqual([]);

    const real = captureIo();
    expect(await main(['reconcile', '--config', config], real.io)).toBe(0);
    expect(real.out()).toMatch(/1 copied, 0 deleted \(gone from the trusted replicas\), 0 expired, 0 failed in \d+ ms/);
    expect((await b.groups()).map((g) => g.labels)).toEqual([{ job: 'lonely' }]);
  });

  it('looks twice at a content difference before repairing it, in one run', async () => {
    const [a, b] = [await startPushgateway(), await startPushgateway()];
    backends.push(a, b);
    expect((await fetch(`${a.url}/metrics/job/differs`, { method: 'PUT', body: 'differs 1\n' })).status).toBe(200);
    expect((await fetch(`${b.url}/metrics/job/differs`, { method: 'PUT', body: 'differs 2\n' })).status).toBe(200);
    const dir = await tempDir('pushring-reconcile-');
    const config = join(dir, 'pushring.yaml');
    await writeFile(config, `shards:\n  - name: a\n    replicas: ["${a.url}", "${b.url}"]\n`);
    const real = captureIo();
    expect(await main(['reconcile', '--config', config], real.io)).toBe(0);
    expect(real.out()).toContain('1 difference(s) seen once: looking again\n');
    expect(real.out()).toMatch(/1 copied, 0 deleted/);
    // The newest push wins (b's), on both.
    for (const replica of [a, b]) expect((await replica.groups())[0]?.metrics['differs']?.metrics[0]?.['value']).toBe('2');
  });
});

describe('pushring reconcile with Redis', () => {
  let redis: RedisServer | undefined;
  afterAll(async () => {
    await redis?.close();
  });
  const configWith = async (redisLine: string, replicas: readonly string[]): Promise<string> => {
    const dir = await tempDir('pushring-reconcile-redis-');
    const config = join(dir, 'pushring.yaml');
    await writeFile(config, `${redisLine}\nshards:\n  - name: a\n    replicas: ["${replicas.join('", "')}"]\n`);
    return config;
  };

  it('runs no pass while Redis is unreachable, says why, and exits 1', async () => {
    const config = await configWith(`redis: { url: "redis://127.0.0.1:${await freePort()}", connectTimeoutMs: 100 }`, ['http://127.0.0.1:1']);
    const run = await runPushring(['reconcile', '--config', config]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("pushring reconcile: Redis is not reachable: the front doors' suspect marks and hints cannot be read, so no pass runs.");
    expect(run.stdout).toBe('');
  });

  it('leaves the pass to the front door that holds the reconcile lease, and plans a dry run all the same', async () => {
    redis = await startRedis();
    const [a, b] = [await startPushgateway(), await startPushgateway()];
    backends.push(a, b);
    expect((await fetch(`${a.url}/metrics/job/lonely`, { method: 'PUT', body: 'lonely 1\n' })).status).toBe(200);
    const config = await configWith(`redis: { url: "${redis.url}", keyPrefix: "cli-lease:" }`, [a.url, b.url]);
    const client = new Redis(redis.url);
    try {
      await client.set('cli-lease:reconcile-lease', 'a front door', 'PX', 60_000);
      const refused = await runPushring(['reconcile', '--config', config]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('pushring reconcile: a front door is running a pass (it holds the reconcile lease)');
      expect(await b.groups()).toEqual([]);

      const dry = await runPushring(['reconcile', '--config', config, '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain('  would copy {job="lonely"} from a/0 to a/1 (missing)\n');
      expect(await client.get('cli-lease:reconcile-lease')).toBe('a front door');

      await client.del('cli-lease:reconcile-lease');
      const real = await runPushring(['reconcile', '--config', config]);
      expect(real.code).toBe(0);
      expect(real.stdout).toMatch(/1 copied, 0 deleted/);
      expect((await b.groups()).map((g) => g.labels)).toEqual([{ job: 'lonely' }]);
      // Released at the end: the front doors' next pass need not wait out its time-to-live.
      expect(await client.get('cli-lease:reconcile-lease')).toBeNull();
    } finally {
      client.disconnect();
    }
  });
});

describe('pushring ring plan', () => {
  it('counts the groups the live backends hold that a new ring moves, by source and destination', async () => {
    const [a, b] = [await startPushgateway(), await startPushgateway()];
    backends.push(a, b);
    const dir = await tempDir('pushring-plan-');
    const old = join(dir, 'old.yaml');
    await writeFile(old, `shards:\n  - { name: a, replicas: ["${a.url}"] }\n  - { name: b, replicas: ["${b.url}"] }\n`);
    const ring = ringOf([
      { name: 'a', weight: 1 },
      { name: 'b', weight: 1 },
    ]);
    for (let i = 0; i < 60; i++) {
      const target = ring.ownerOf(`{instance="i${i}",job="plan"}`) === 'a' ? a : b;
      expect((await fetch(`${target.url}/metrics/job/plan/instance/i${i}`, { method: 'PUT', body: 'planned 1\n' })).status).toBe(200);
    }
    const grown = join(dir, 'new.yaml');
    // No front door runs at its listen address, so nothing says whether c is new or down.
    const noFrontDoor = `127.0.0.1:${await freePort()}`;
    await writeFile(
      grown,
      `listen: "${noFrontDoor}"\nshards:\n  - { name: a, replicas: ["${a.url}"] }\n  - { name: b, replicas: ["${b.url}"] }\n  - { name: c, replicas: ["http://127.0.0.1:1"], draining: false }\n`,
    );
    const next = ringOf([
      { name: 'a', weight: 1 },
      { name: 'b', weight: 1 },
      { name: 'c', weight: 1 },
    ]);
    const expectedMoves = Array.from({ length: 60 }, (_, i) => `{instance="i${i}",job="plan"}`).filter((k) => next.ownerOf(k) === 'c').length;

    // The new shard has no backend yet: the live plan reads the shards that exist, then says so.
    const live = captureIo();
    expect(await main(['ring', 'plan', '--config', old], live.io)).toBe(0);
    expect(live.out()).toBe('60 groups: 60 stay, 0 move (0.0%)\n');

    const grownPlan = captureIo();
    expect(await main(['ring', 'plan', '--config', grown, '--json'], grownPlan.io)).toBe(1);
    expect(grownPlan.err()).toContain('no replica of shard c answered; use --from <old file>');
    expect(grownPlan.err()).toContain(`no front door says which (http://${noFrontDoor}/-/status: ECONNREFUSED); give --front-door <url>`);

    const fromOld = captureIo();
    expect(await main(['ring', 'plan', '--config', grown, '--from', old], fromOld.io)).toBe(0);
    expect(fromOld.out()).toMatch(/^share of the key space that moves: 3\d\.\d% \(from ring placement, 100000 samples\)/);
    expect(fromOld.out()).not.toMatch(/^\S+\s+[ab]\s+\d+/m);

    // Drain b: everything on it moves, to a or c.
    const drained = join(dir, 'drained.yaml');
    await writeFile(drained, `shards:\n  - { name: a, replicas: ["${a.url}"] }\n  - { name: b, replicas: ["${b.url}"], draining: true }\n`);
    const drain = captureIo();
    expect(await main(['ring', 'plan', '--config', drained, '--json'], drain.io)).toBe(0);
    const plan = JSON.parse(drain.out()) as { total: number; staying: number; moves: Array<{ from: string; to: string; count: number }> };
    const onB = Array.from({ length: 60 }, (_, i) => `{instance="i${i}",job="plan"}`).filter((k) => ring.ownerOf(k) === 'b').length;
    expect(plan).toEqual({ unit: 'groups', total: 60, staying: 60 - onB, moves: [{ from: 'b', to: 'a', count: onB }] });
    expect(expectedMoves).toBeGreaterThan(0);
  });
});

describe('pushring ring plan before the new shard is started (the runbook)', () => {
  it('plans a new shard nobody answers for as empty, and refuses when a shard of the ring in force does not answer', async () => {
    const [a, b] = [await startPushgateway(), await startPushgateway()];
    backends.push(a, b);
    const dir = await tempDir('pushring-plan-runbook-');
    const listen = `127.0.0.1:${await freePort()}`;
    const old = join(dir, 'pushring.yaml');
    await writeFile(old, `listen: "${listen}"\nshards:\n  - { name: a, replicas: ["${a.url}"] }\n  - { name: b, replicas: ["${b.url}"] }\n`);
    const server = spawnProcess(process.execPath, ['bin/pushring.js', 'serve', '--config', old], { logFile: join(dir, 'serve.log') });
    try {
      const url = `http://${listen}`;
      await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, { what: 'pushring serve to be ready', timeoutMs: 15_000 });
      const keys = Array.from({ length: 60 }, (_, i) => `{instance="i${i}",job="runbook"}`);
      for (let i = 0; i < keys.length; i++) {
        expect((await fetch(`${url}/metrics/job/runbook/instance/i${i}`, { method: 'PUT', body: 'planned 1\n' })).status).toBe(200);
      }
      // The new shard's Pushgateways are not started: nothing listens at its replicas.
      const [c0, c1] = [await freePort(), await freePort()];
      const grown = join(dir, 'new.yaml');
      await writeFile(
        grown,
        `listen: "${listen}"\nshards:\n  - { name: a, replicas: ["${a.url}"] }\n  - { name: b, replicas: ["${b.url}"] }\n  - { name: c, replicas: ["http://127.0.0.1:${c0}", "http://127.0.0.1:${c1}"] }\n`,
      );
      const before = ringOf([
        { name: 'a', weight: 1 },
        { name: 'b', weight: 1 },
      ]);
      const after = ringOf([
        { name: 'a', weight: 1 },
        { name: 'b', weight: 1 },
        { name: 'c', weight: 1 },
      ]);
      const movesTo = (from: string): number => keys.filter((k) => before.ownerOf(k) === from && after.ownerOf(k) === 'c').length;
      const moved = movesTo('a') + movesTo('b');
      expect(moved).toBeGreaterThan(0);

      const text = await runPushring(['ring', 'plan', '--config', grown]);
      expect(text.stderr).toBe('');
      expect(text.code).toBe(0);
      expect(text.stdout).toContain(`60 groups: ${60 - moved} stay, ${moved} move (${((100 * moved) / 60).toFixed(1)}%)\n`);
      for (const from of ['a', 'b'].filter((s) => movesTo(s) > 0)) expect(text.stdout).toMatch(new RegExp(`^${from}\\s+c\\s+${movesTo(from)}\\s`, 'm'));
      expect(text.stdout).toContain(`shard c: not reachable yet, planned as empty (the ring in force, as ${url}/-/status reports it, does not have it)\n`);

      const json = await runPushring(['ring', 'plan', '--config', grown, '--json']);
      expect(json.code).toBe(0);
      const plan = JSON.parse(json.stdout) as { total: number; plannedEmpty: string[]; moves: Array<{ from: string; to: string; count: number }> };
      expect(plan.total).toBe(60);
      expect(plan.plannedEmpty).toEqual(['c']);
      expect(plan.moves.reduce((n, m) => n + (m.to === 'c' ? m.count : 0), 0)).toBe(moved);

      // A shard of the ring in force that does not answer holds groups nobody can count.
      await b.close();
      const down = await runPushring(['ring', 'plan', '--config', grown]);
      expect(down.code).toBe(1);
      expect(down.stdout).toBe('');
      expect(down.stderr).toContain(
        `no replica of shard b answered; use --from <old file> to plan from placement alone. It is in the ring in force (as ${url}/-/status reports it), so its groups are unknown`,
      );
      expect(down.stderr).not.toContain('shard c');
    } finally {
      server.kill('SIGTERM');
      await server.exited;
    }
  });
});

describe('pushring serve', () => {
  it('serves pushes from a real process and exits 0 on SIGTERM', async () => {
    const [first, second] = [await startPushgateway(), await startPushgateway()];
    backends.push(first, second);
    const dir = await tempDir('pushring-serve-');
    const port = await freePort();
    const config = join(dir, 'pushring.yaml');
    await writeFile(config, `listen: "127.0.0.1:${port}"\nshards:\n  - name: a\n    replicas: ["${first.url}", "${second.url}"]\n`);
    const log = join(dir, 'serve.log');
    const server = spawnProcess(process.execPath, ['bin/pushring.js', 'serve', '--config', config], { logFile: log });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, { what: 'pushring serve to be ready', timeoutMs: 15_000 });
    const res = await fetch(`${url}/metrics/job/cli/instance/x`, { method: 'PUT', body: 'cli_metric 1\n' });
    expect(res.status).toBe(200);
    expect((await first.groups()).map((g) => g.labels)).toEqual([{ instance: 'x', job: 'cli' }]);
    expect((await second.groups()).map((g) => g.labels)).toEqual([{ instance: 'x', job: 'cli' }]);
    server.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('exits 1 with one clear line when the directory of discovery.file is missing', async () => {
    const dir = await tempDir('pushring-serve-sd-');
    const targets = join(dir, 'missing', 'pushring-targets.json');
    const config = join(dir, 'pushring.yaml');
    await writeFile(
      config,
      `listen: "127.0.0.1:${await freePort()}"\nshards:\n  - name: a\n    replicas: ["http://127.0.0.1:1"]\ndiscovery:\n  file: ${targets}\n`,
    );
    const run = await runPushring(['serve', '--config', config]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `pushring serve: cannot write discovery.file ${targets}: the directory ${join(dir, 'missing')} does not exist; create it (mkdir -p ${join(dir, 'missing')}) or change discovery.file\n`,
    );
  });

  it('exits 1 with a clear message when it cannot listen, leaving nothing running', async () => {
    const dir = await tempDir('pushring-busy-');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const config = join(dir, 'busy.yaml');
    await writeFile(config, `listen: "127.0.0.1:${port}"\nshards:\n  - name: a\n    replicas: ["http://127.0.0.1:1"]\n`);
    const log = join(dir, 'busy.log');
    const server = spawnProcess(process.execPath, ['bin/pushring.js', 'serve', '--config', config], { logFile: log });
    try {
      expect(await server.exited).toBe(1);
      expect(await readFile(log, 'utf8')).toContain('pushring: cannot listen: listen EADDRINUSE');
    } finally {
      blocker.close();
    }
  });
});
