/**
 * Backends behind TLS and basic auth (a Pushgateway's `--web.config.file`), through a real
 * `pushring serve` (dist/: `npm run build` first): a shard of two such Pushgateways beside a plain
 * shard is written, probed, read and repaired; reads through the front door reach it with
 * pushring's credentials, also once they rotate; a wrong password or a certificate of another CA
 * makes a replica down with a reason that says what to fix, and the password never reaches the log.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from '../helpers/certs.js';
import { runPushring } from '../helpers/cli.js';
import { validated } from '../helpers/config.js';
import { startPrometheus } from '../helpers/prometheus.js';
import { buildTargets, formatTargets } from '../../src/discovery/targets.js';
import { freePort, spawnProcess, tempDir, waitFor, type ManagedProcess } from '../helpers/processes.js';
import { startPushgateway, type Group, type Pushgateway } from '../helpers/pushgateway.js';

const USER = 'pushring';
const started: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

async function gateway(options: Parameters<typeof startPushgateway>[0]): Promise<Pushgateway> {
  const pg = await startPushgateway(options);
  started.push(pg);
  return pg;
}

/** A Pushgateway serving HTTPS with a certificate of `ca`, requiring basic auth with `password`. */
async function tlsGateway(ca: TestCa, password: string): Promise<Pushgateway> {
  return gateway({ webConfig: { tls: await ca.server(), ca: ca.caFile, basicAuth: { username: USER, password } } });
}

interface Door {
  readonly url: string;
  readonly file: string;
  readonly dir: string;
  readonly log: () => Promise<string>;
  readonly process: ManagedProcess;
}

/** `pushring serve` over the given `shards:` lines (YAML), ready to take pushes. */
async function serve(
  dir: string,
  shardLines: readonly string[],
  extra: readonly string[] = [],
  health = '{ intervalMs: 200, timeoutMs: 2000, scrapeIntervalMs: 1000 }',
): Promise<Door> {
  const port = await freePort();
  const file = join(dir, 'pushring.yaml');
  await writeFile(
    file,
    [`listen: "127.0.0.1:${port}"`, 'log: { level: info }', `health: ${health}`, 'auth: { secretsReloadSeconds: 1 }', ...extra, 'shards:', ...shardLines].join(
      '\n',
    ) + '\n',
  );
  const logFile = join(dir, 'serve.log');
  const proc = spawnProcess(process.execPath, ['bin/pushring.js', 'serve', '--config', file], { logFile });
  started.push({
    async close() {
      proc.kill();
      await proc.exited;
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, { what: `${url} to be ready`, timeoutMs: 15_000 }).catch(async (err: Error) => {
    throw new Error(`${err.message}; log:\n${(await readFile(logFile, 'utf8')).slice(-3000)}`);
  });
  return { url, file, dir, process: proc, log: () => readFile(logFile, 'utf8') };
}

const put = (door: Door, job: string, value: number, headers: Record<string, string> = {}) =>
  fetch(`${door.url}/metrics/job/${job}`, {
    method: 'PUT',
    headers: { 'content-type': 'text/plain', ...headers },
    body: `# TYPE tls_pushed gauge\ntls_pushed ${value}\n`,
  });

const jobsOf = (groups: Group[]) => groups.map((g) => g.labels['job']).sort();

interface Status {
  shards: Array<{ name: string; replicas: Array<{ replica: string; url: string; up: boolean }> }>;
}
const status = async (door: Door): Promise<Status> => (await (await fetch(`${door.url}/-/status`)).json()) as Status;
const upOf = async (door: Door, shard: string): Promise<boolean[]> => (await status(door)).shards.find((s) => s.name === shard)!.replicas.map((r) => r.up);

/** Every form the password could take on its way out: itself, and inside a basic-auth header. */
function leaksOf(password: string): string[] {
  return [password, Buffer.from(`${USER}:${password}`).toString('base64')];
}

describe('a shard behind TLS and basic auth', () => {
  it('is written, probed, read and repaired beside a plain shard', async () => {
    const ca = await createTestCa();
    const password = `pg-${randomBytes(12).toString('hex')}`;
    const dir = await tempDir('pushring-backend-tls-');
    const passwordFile = join(dir, 'pg-password');
    await writeFile(passwordFile, `${password}\n`);
    const [t0, t1, p0, p1] = await Promise.all([tlsGateway(ca, password), tlsGateway(ca, password), gateway({}), gateway({})]);
    expect(t0.url).toMatch(/^https:/);
    const door = await serve(
      dir,
      [
        `  - name: secure`,
        `    client: { caFile: ${JSON.stringify(ca.caFile)}, basicAuth: { username: ${USER}, password: { file: ${JSON.stringify(passwordFile)} } } }`,
        `    replicas: ["${t0.url}", { url: "${t1.url}" }]`,
        `  - { name: plain, replicas: ["${p0.url}", "${p1.url}"] }`,
      ],
      ['reconcile: { intervalSeconds: 1 }'],
    );

    // Written: every push is stored on both replicas of its owner; a client's own Authorization
    // header does not keep pushring's from reaching the secure shard.
    const jobs = Array.from({ length: 16 }, (_, i) => `tls_job_${i}`);
    for (const [i, job] of jobs.entries()) {
      const res = await put(door, job, i, i % 2 === 0 ? { authorization: 'Basic Y2xpZW50OnNlY3JldA==' } : {});
      expect(res.status, `${job}: ${await res.text()}`).toBe(200);
    }
    const placed = await waitFor(
      async () => {
        const [a, b, c, d] = await Promise.all([t0.groups(), t1.groups(), p0.groups(), p1.groups()]);
        const secure = jobsOf(a);
        return JSON.stringify(secure) === JSON.stringify(jobsOf(b)) &&
          JSON.stringify(jobsOf(c)) === JSON.stringify(jobsOf(d)) &&
          secure.length + c.length === jobs.length
          ? secure
          : undefined;
      },
      { what: 'every push on both replicas of its shard' },
    );
    expect(placed.length, 'the ring places some groups on the secure shard').toBeGreaterThan(0);
    expect(placed.length).toBeLessThan(jobs.length);
    expect(
      placed.some((job) => Number(job?.slice('tls_job_'.length)) % 2 === 0),
      'a push that carried a client Authorization header reached the secure shard',
    ).toBe(true);

    // Probed: up in /-/status and in pushring_backend_up.
    expect(await upOf(door, 'secure')).toEqual([true, true]);
    const metrics = await (await fetch(`${door.url}/-/metrics`)).text();
    for (const [i, pg] of [t0, t1].entries()) {
      expect(metrics).toContain(`pushring_replica_up{shard="secure",replica="${i}",url="${pg.url}"} 1`);
      // The scrape probe passes the same credentials.
      await waitFor(async () => (await (await fetch(`${door.url}/-/metrics`)).text()).includes(`pushring_backend_scrape_ok{shard="secure",replica="${i}"} 1`), {
        what: `the scrape of secure/${i} checked ok`,
      });
    }

    // Read: a dry run reads every group copy of both shards, the secure ones over TLS.
    const dry = await runPushring(['reconcile', '--config', door.file, '--dry-run']);
    expect(dry.stderr).toBe('');
    expect(dry.stdout).toContain(`2 shard(s), ${2 * jobs.length} group copies read, 0 action(s) planned`);
    expect(dry.code).toBe(0);

    // Repaired: restarted empty (no persistence), a replica is refilled from its twin.
    await t0.restart();
    expect(await t0.groups()).toEqual([]);
    await waitFor(async () => JSON.stringify(jobsOf(await t0.groups())) === JSON.stringify(placed), {
      what: 'the restarted secure replica to be refilled from its twin',
      timeoutMs: 30_000,
    });
    expect(await t0.groups()).toEqual(await t1.groups());

    const log = await door.log();
    for (const leak of leaksOf(password)) expect(log).not.toContain(leak);
    expect(log).not.toMatch(/"level":50/);
  });

  it('marks a replica with a wrong password or a certificate of another CA down, says why, and keeps pushing to the good one', async () => {
    const ca = await createTestCa();
    const otherCa = await createTestCa('another CA');
    const password = `pg-${randomBytes(12).toString('hex')}`;
    const wrong = `wrong-${randomBytes(12).toString('hex')}`;
    const dir = await tempDir('pushring-backend-tls-');
    const [goodFile, wrongFile, caFile] = [join(dir, 'good'), join(dir, 'wrong'), join(dir, 'ca.pem')];
    await Promise.all([writeFile(goodFile, password), writeFile(wrongFile, wrong), writeFile(caFile, await readFile(ca.caFile))]);
    const [good, refusing, stranger] = await Promise.all([tlsGateway(ca, password), tlsGateway(ca, password), tlsGateway(otherCa, password)]);
    const basic = (file: string) => `basicAuth: { username: ${USER}, password: { file: ${JSON.stringify(file)} } }`;
    const door = await serve(dir, [
      `  - name: secure`,
      `    client: { caFile: ${JSON.stringify(caFile)}, ${basic(goodFile)} }`,
      `    replicas: ["${good.url}", { url: "${refusing.url}", client: { ${basic(wrongFile)} } }, "${stranger.url}"]`,
    ]);

    await waitFor(async () => JSON.stringify(await upOf(door, 'secure')) === '[true,false,false]', { what: 'only the good replica up' }).catch(
      async (err: Error) => {
        throw new Error(`${err.message}; log:\n${(await door.log()).slice(-4000)}`);
      },
    );
    const refused = "the replica refused pushring's credentials (401): check shards[0].replicas[1].client.basicAuth";
    const untrusted = /TLS: the replica's certificate is not signed by a trusted CA \([A-Z_]+\): check shards\[0\]\.client\.caFile/;
    await waitFor(async () => (await door.log()).includes(refused) && untrusted.test(await door.log()), { what: 'both reasons in the log' });

    // Pushes still succeed on the good replica (ack one).
    const res = await put(door, 'still_pushing', 1).catch(async (err: Error) => {
      throw new Error(`${err.message}; log:\n${(await door.log()).slice(-4000)}`);
    });
    expect(res.status, await res.text()).toBe(200);
    await waitFor(async () => jobsOf(await good.groups()).includes('still_pushing'), { what: 'the push on the good replica' });
    expect(await refusing.groups()).toEqual([]);

    // A rotated password is used without a restart: the refusing replica comes up.
    await writeFile(wrongFile, password);
    await waitFor(async () => (await upOf(door, 'secure'))[1] === true, { what: 'the replica up with the rotated password', timeoutMs: 15_000 });
    // A CA file rewritten to trust the other CA too is used without a restart.
    await writeFile(caFile, Buffer.concat([await readFile(ca.caFile), await readFile(otherCa.caFile)]));
    await waitFor(async () => (await upOf(door, 'secure'))[2] === true, {
      what: 'the replica of the other CA up once the CA file trusts it',
      timeoutMs: 15_000,
    });

    const log = await door.log();
    // The health lines (a read of the replica, such as the judge's at start, names the reason too).
    const reasons = log.split('\n').filter((line) => line.includes(refused) && line.includes('replica is down'));
    expect(reasons, 'the reason is logged once per change, not per probe').toHaveLength(1);
    expect(log, 'a read of the replica says why it failed').toContain(`GET /api/v1/metrics: ${refused}`);
    for (const leak of [...leaksOf(password), ...leaksOf(wrong)]) expect(log).not.toContain(leak);
    const metrics = await (await fetch(`${door.url}/-/metrics`)).text();
    for (const leak of [...leaksOf(password), ...leaksOf(wrong)]) expect(metrics).not.toContain(leak);
    expect(JSON.stringify(await status(door))).not.toContain(password);
  });
});

describe('reads through the front door from a shard behind TLS and basic auth', () => {
  /** The groups of GET /api/v1/metrics through the front door: job -> tls_pushed value. */
  async function readJson(door: Door): Promise<Record<string, string>> {
    const res = await fetch(`${door.url}/api/v1/metrics`, { signal: AbortSignal.timeout(15_000) });
    const body = await res.text();
    expect(res.status, `GET /api/v1/metrics through the front door: ${body.slice(0, 500)}`).toBe(200);
    const doc = JSON.parse(body) as { status: string; data: Array<{ labels: Record<string, string>; tls_pushed?: { metrics: Array<{ value: string }> } }> };
    expect(doc.status).toBe('success');
    const out: Record<string, string> = {};
    for (const g of doc.data) {
      expect(out[g.labels['job']!], `group ${g.labels['job']} once`).toBeUndefined();
      out[g.labels['job']!] = g.tls_pushed?.metrics[0]?.value ?? '(no tls_pushed)';
    }
    return out;
  }

  /** The tls_pushed series of GET /metrics through the front door: job -> value. */
  async function readText(door: Door): Promise<Record<string, string>> {
    const res = await fetch(`${door.url}/metrics`, { signal: AbortSignal.timeout(15_000) });
    const body = await res.text();
    expect(res.status, `GET /metrics through the front door: ${body.slice(0, 500)}`).toBe(200);
    const out: Record<string, string> = {};
    for (const line of body.split('\n')) {
      const m = /^tls_pushed\{(.*)\} (\S+)$/.exec(line);
      if (m === null) continue;
      const job = /(?:^|,)job="([^"]*)"/.exec(m[1]!)?.[1];
      expect(job, line).toBeDefined();
      expect(out[job!], `series of ${job} once`).toBeUndefined();
      out[job!] = m[2]!;
    }
    return out;
  }

  const valuesOf = (jobs: readonly string[], round: number): Record<string, string> => Object.fromEntries(jobs.map((job, i) => [job, String(round * 100 + i)]));

  it("answers GET /api/v1/metrics and GET /metrics with the groups read over TLS with pushring's password, also after the files rotate", async () => {
    const ca = await createTestCa();
    const nextCa = await createTestCa('the next CA');
    const password = `pg-${randomBytes(12).toString('hex')}`;
    const nextPassword = `pg-next-${randomBytes(12).toString('hex')}`;
    const dir = await tempDir('pushring-backend-tls-');
    const [passwordFile, caFile] = [join(dir, 'pg-password'), join(dir, 'ca.pem')];
    await Promise.all([writeFile(passwordFile, `${password}\n`), writeFile(caFile, await readFile(ca.caFile))]);
    const [t0, t1, p0, p1] = await Promise.all([tlsGateway(ca, password), tlsGateway(ca, password), gateway({}), gateway({})]);
    const door = await serve(dir, [
      `  - name: secure`,
      `    client: { caFile: ${JSON.stringify(caFile)}, basicAuth: { username: ${USER}, password: { file: ${JSON.stringify(passwordFile)} } } }`,
      `    replicas: ["${t0.url}", "${t1.url}"]`,
      `  - { name: plain, replicas: ["${p0.url}", "${p1.url}"] }`,
    ]);
    const jobs = Array.from({ length: 16 }, (_, i) => `tls_read_${i}`);
    const pushRound = async (round: number): Promise<void> => {
      for (const [i, job] of jobs.entries()) {
        const res = await put(door, job, round * 100 + i);
        expect(res.status, `${job}: ${await res.text()}`).toBe(200);
      }
    };

    await pushRound(1);
    const secureJobs = jobsOf(await t0.groups());
    expect(secureJobs.length, 'the ring places some groups on the secure shard').toBeGreaterThan(0);
    expect(secureJobs.length).toBeLessThan(jobs.length);
    expect(await readJson(door)).toEqual(valuesOf(jobs, 1));
    expect(await readText(door)).toEqual(valuesOf(jobs, 1));
    // Read from the second replica as well while the first is down: the front door then holds read
    // connections to both with the files as they were, and cannot fall back on one made later.
    await t0.kill();
    await waitFor(async () => JSON.stringify(await upOf(door, 'secure')) === '[false,true]', { what: 'secure/0 down', timeoutMs: 20_000 });
    expect(await readJson(door), 'read from the twin while secure/0 is down').toEqual(valuesOf(jobs, 1));
    expect(await readText(door)).toEqual(valuesOf(jobs, 1));

    /**
     * The secure replicas come back on their ports with a certificate of `signer` and only
     * `pw`; their restart closes every connection pushring held, so the reads that follow
     * connect, verify and authenticate with the files as they are now. Restarted empty, they
     * are filled again by a round of pushes (the write path follows rotated files).
     */
    let secure: Pushgateway[] = [t0, t1];
    const restartSecure = async (signer: TestCa, pw: string, round: number): Promise<void> => {
      const next: Pushgateway[] = [];
      for (const old of secure) {
        if (old.process.alive()) await old.kill();
        next.push(await gateway({ port: old.port, webConfig: { tls: await signer.server(), ca: signer.caFile, basicAuth: { username: USER, password: pw } } }));
      }
      secure = next;
      await waitFor(async () => JSON.stringify(await upOf(door, 'secure')) === '[true,true]', {
        what: 'the secure replicas up again with the rotated files',
        timeoutMs: 20_000,
      }).catch(async (err: Error) => {
        throw new Error(`${err.message}; log:\n${(await door.log()).slice(-4000)}`);
      });
      await pushRound(round);
      for (const r of secure) expect(jobsOf(await r.groups()), 'the secure shard holds its groups again').toEqual(secureJobs);
    };
    const expectReads = async (when: string, round: number): Promise<void> => {
      const [json, text] = await Promise.all([readJson(door), readText(door)]).catch(async (err: Error) => {
        throw new Error(`reads ${when} failed: ${err.message}; log:\n${(await door.log()).slice(-4000)}`);
      });
      expect(json, `GET /api/v1/metrics ${when}`).toEqual(valuesOf(jobs, round));
      expect(text, `GET /metrics ${when}`).toEqual(valuesOf(jobs, round));
    };

    // The password rotates (pushring's file first, then the replicas), their certificates are
    // renewed by the same CA.
    await writeFile(passwordFile, `${nextPassword}\n`);
    await restartSecure(ca, nextPassword, 2);
    await expectReads('after the password rotated', 2);

    // The CA rotates: pushring's CA file trusts the next CA too, then the replicas serve
    // certificates of the next CA.
    await writeFile(caFile, Buffer.concat([await readFile(ca.caFile), await readFile(nextCa.caFile)]));
    await restartSecure(nextCa, nextPassword, 3);
    await expectReads('after the CA rotated', 3);

    const log = await door.log();
    for (const leak of [...leaksOf(password), ...leaksOf(nextPassword)]) expect(log).not.toContain(leak);
  });
});

describe("a replica refusing pushring's own credentials", () => {
  /** A shard of two TLS replicas with one password; replica 0 reads its own password file. */
  async function refusingShard(ack: 'one' | 'all', health?: string) {
    const ca = await createTestCa();
    const password = `pg-${randomBytes(12).toString('hex')}`;
    const wrong = `wrong-${randomBytes(12).toString('hex')}`;
    const dir = await tempDir('pushring-backend-tls-');
    const [goodFile, ownFile] = [join(dir, 'good'), join(dir, 'own')];
    await Promise.all([writeFile(goodFile, password), writeFile(ownFile, ack === 'one' ? wrong : password)]);
    const [r0, r1] = await Promise.all([tlsGateway(ca, password), tlsGateway(ca, password)]);
    const basic = (file: string) => `basicAuth: { username: ${USER}, password: { file: ${JSON.stringify(file)} } }`;
    const door = await serve(
      dir,
      [
        `  - name: secure`,
        `    client: { caFile: ${JSON.stringify(ca.caFile)}, ${basic(goodFile)} }`,
        `    replicas: [{ url: "${r0.url}", client: { ${basic(ownFile)} } }, "${r1.url}"]`,
      ],
      [`write: { ack: ${ack} }`, 'reconcile: { intervalSeconds: 1 }'],
      health,
    );
    return { door, r0, r1, ownFile, password, wrong };
  }

  it('with ack one: the push is answered 200, the replica is down and suspect, and gets the push once the password is fixed', async () => {
    const { door, r0, r1, ownFile, password, wrong } = await refusingShard('one');
    const res = await put(door, 'refused_once', 1);
    expect(res.status, await res.text()).toBe(200);
    await waitFor(async () => jobsOf(await r1.groups()).includes('refused_once'), { what: 'the push on the replica that took it' });
    await waitFor(async () => (await upOf(door, 'secure'))[0] === false, { what: 'the refusing replica down' });
    await waitFor(async () => /^pushring_replicas_suspect [1-9]/m.test(await (await fetch(`${door.url}/-/metrics`)).text()), {
      what: 'the refusing replica suspect',
    });
    expect(await r0.groups()).toEqual([]);

    await writeFile(ownFile, password);
    await waitFor(async () => jobsOf(await r0.groups()).includes('refused_once'), {
      what: 'the missed push on the replica once its password is fixed',
      timeoutMs: 30_000,
    });
    await waitFor(async () => JSON.stringify(await upOf(door, 'secure')) === '[true,true]', { what: 'the replica up with the fixed password' });
    const log = await door.log();
    for (const leak of [...leaksOf(password), ...leaksOf(wrong)]) expect(log).not.toContain(leak);
  });

  it("with ack all: a write refused by the replica's auth layer gets pushring's own error, never the bare 401", async () => {
    // Probes an hour apart: the replica is up when the write meets the refusal, so the write
    // path, not a probe, finds it.
    const { door, r1, ownFile, password, wrong } = await refusingShard('all', '{ intervalMs: 3600000, timeoutMs: 2000 }');
    expect((await put(door, 'before_rotation', 1)).status).toBe(200);
    await writeFile(ownFile, wrong);
    // pushring reads the rotated (wrong) password within auth.secretsReloadSeconds.
    const refused = await waitFor(
      async () => {
        const res = await put(door, 'after_rotation', 2);
        const body = await res.text();
        return res.status === 200 ? undefined : { status: res.status, body };
      },
      { what: 'a push refused once pushring uses the wrong password' },
    );
    expect(refused.status).toBe(503);
    expect(refused.body).toContain('pushring: stored on 1 of 2 replicas of shard "secure"');
    await waitFor(async () => jobsOf(await r1.groups()).includes('after_rotation'), { what: 'the push on the other replica' });
    expect((await upOf(door, 'secure'))[0]).toBe(false);
    expect(await door.log()).toContain("write refused: the replica refused pushring's credentials (401): check shards[0].replicas[0].client.basicAuth");
    const log = await door.log();
    for (const leak of [...leaksOf(password), ...leaksOf(wrong)]) expect(log).not.toContain(leak);
  });
});

describe('client files that cannot be read', () => {
  it('are configuration problems for check-config and stop serve, naming the setting and the file', async () => {
    const dir = await tempDir('pushring-backend-tls-');
    const file = join(dir, 'pushring.yaml');
    const missing = join(dir, 'missing-ca.pem');
    await writeFile(
      file,
      `listen: "127.0.0.1:${await freePort()}"\nshards:\n  - { name: a, replicas: [{ url: "https://127.0.0.1:1", client: { caFile: ${JSON.stringify(missing)} } }] }\n`,
    );
    const expected = `cannot read shards[0].replicas[0].client.caFile (${missing}): ENOENT; give a readable PEM file`;
    const check = await runPushring(['check-config', file]);
    expect([check.code, check.stderr]).toEqual([2, `pushring: ${file} is not a valid configuration:\n  - ${expected}\n`]);
    const serving = await runPushring(['serve', '--config', file]);
    expect([serving.code, serving.stderr]).toEqual([1, `pushring: ${expected}\n`]);
  });
});

describe('Prometheus and backends behind TLS and basic auth', () => {
  it('scrapes them with the two jobs docs/prometheus.md shows, from the targets pushring writes', async () => {
    const ca = await createTestCa();
    const password = `prom-${randomBytes(12).toString('hex')}`;
    // Prometheus's own user, as the docs advise.
    const web = { tls: await ca.server(), ca: ca.caFile, basicAuth: { username: 'prometheus', password } };
    const [secure, plain] = await Promise.all([gateway({ webConfig: web }), gateway({})]);
    const config = validated({
      shards: [
        { name: 'secure', replicas: [secure.url] },
        { name: 'plain', replicas: [plain.url] },
      ],
    });
    // The example itself, with its two files next to the configuration.
    const doc = await readFile(new URL('../../docs/prometheus.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Backends behind TLS and basic auth'));
    const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(example, 'a YAML example in the section').toBeDefined();
    const yaml = `global: { scrape_interval: 1s }\n${example!.replaceAll('/etc/prometheus/', '')}`;
    const prometheus = await startPrometheus(yaml, {
      'pushgateway-ca.pem': await readFile(ca.caFile, 'utf8'),
      'pushgateway-password': password,
      'targets/pushring-targets.json': formatTargets(buildTargets(config)),
    });
    started.push(prometheus);
    const up = await waitFor(
      async () => {
        // Each replica in exactly one of the two jobs (no password sent to the plain one), and up.
        const samples = await prometheus.query('up{job="pushgateway"}');
        return samples.length === 2 && samples.every((s) => s.value[1] === '1') ? samples.map((s) => s.metric['shard']).sort() : undefined;
      },
      { what: 'both Pushgateways scraped up by Prometheus', timeoutMs: 30_000 },
    ).catch(async (err: Error) => {
      const targets = await prometheus.api<{ activeTargets: Array<{ scrapeUrl: string; lastError: string; health: string }> }>('targets');
      throw new Error(`${err.message}: ${JSON.stringify(targets.activeTargets.map((t) => [t.scrapeUrl, t.health, t.lastError]))}`);
    });
    expect(up).toEqual(['plain', 'secure']);
  });
});
