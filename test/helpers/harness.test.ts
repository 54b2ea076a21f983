import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, removeTempDirs, requireBinary, spawnProcess, tempDir, waitFor } from './processes.js';
import { encodeDelimitedMetricFamilies, PROTOBUF_CONTENT_TYPE } from './protobuf.js';
import { normaliseGroups, rawGroups, startPushgateway, type Pushgateway } from './pushgateway.js';

const TEXT_BODY = [
  '# HELP g a gauge',
  '# TYPE g gauge',
  'g{a="1"} 3.5',
  '# TYPE c counter',
  'c 7',
  '# HELP s a summary',
  '# TYPE s summary',
  's{quantile="0.5"} 1',
  's{quantile="0.9"} 2',
  's_sum 10',
  's_count 5',
  '# TYPE h histogram',
  'h_bucket{le="0.1"} 1',
  'h_bucket{le="1"} 3',
  'h_bucket{le="+Inf"} 4',
  'h_sum 2.5',
  'h_count 4',
  '',
].join('\n');

const started: Pushgateway[] = [];
let a: Pushgateway;
let b: Pushgateway;

async function push(gateway: Pushgateway, path: string, body: string | Buffer, contentType?: string): Promise<void> {
  const res = await fetch(`${gateway.url}${path}`, {
    method: 'PUT',
    body,
    ...(contentType === undefined ? {} : { headers: { 'content-type': contentType } }),
  });
  expect(res.status, await res.text()).toBe(200);
}

// A zombie still answers kill(pid, 0), and PID 1 in a container may never reap it.
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

beforeAll(async () => {
  const pair = await Promise.all([startPushgateway(), startPushgateway()]);
  started.push(...pair);
  [a, b] = pair;
});

afterAll(async () => {
  await Promise.all(started.map((gateway) => gateway.close()));
  await removeTempDirs();
});

describe('process helpers', () => {
  it('resolves installed binaries and fails loudly for missing ones', () => {
    expect(requireBinary('prometheus-pushgateway')).toMatch(/\/prometheus-pushgateway$/);
    expect(() => requireBinary('pushring-no-such-binary')).toThrow(/'pushring-no-such-binary' was not found.*bash scripts\/install-test-deps\.sh/);
  });

  it('hands out distinct free ports', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    expect(new Set(ports).size).toBe(3);
    for (const port of ports) {
      expect(port).toBeGreaterThan(0);
    }
  });

  it('reports the deadline and the last probe error when waitFor times out', async () => {
    let calls = 0;
    const failing = waitFor(
      async () => {
        calls += 1;
        throw new Error(`probe failure ${calls}`);
      },
      { what: 'the impossible', timeoutMs: 150, intervalMs: 10 },
    );
    await expect(failing).rejects.toThrow(/^timed out after 150ms waiting for the impossible \(last error: probe failure \d+\)$/);
    expect(calls).toBeGreaterThan(1);
  });

  it('gives up on a probe that never settles once the deadline passes', async () => {
    const hanging = waitFor(() => new Promise<never>(() => undefined), { what: 'a hung probe', timeoutMs: 100 });
    await expect(hanging).rejects.toThrow('timed out after 100ms waiting for a hung probe');
  });

  it('logs to a file and kills the whole process group', async () => {
    const dir = await tempDir('pushring-spawn-');
    const logFile = join(dir, 'child.log');
    const proc = spawnProcess('sh', ['-c', 'sleep 1000 & echo "grandchild $!"; echo oops >&2; wait'], { logFile });
    const grandchild = await waitFor(
      async () => {
        const match = /grandchild (\d+)/.exec(await readFile(logFile, 'utf8'));
        return match?.[1] === undefined ? undefined : Number(match[1]);
      },
      { what: 'the grandchild pid in the log' },
    );
    await waitFor(async () => (await readFile(logFile, 'utf8')).includes('oops'), { what: 'stderr in the log' });
    expect(proc.alive()).toBe(true);
    expect(isRunning(grandchild)).toBe(true);
    proc.kill();
    expect(await proc.exited).toBeNull();
    expect(proc.alive()).toBe(false);
    await waitFor(async () => !isRunning(grandchild), { what: 'the grandchild to die with its group' });
    // Signalling an exited process must be a no-op, not an ESRCH.
    proc.kill();
    proc.stop();
    proc.cont();
  });
});

describe('pushgateway helper', () => {
  it('starts two gateways on different ports', () => {
    expect(a.port).not.toBe(b.port);
    expect(a.url).toBe(`http://127.0.0.1:${a.port}`);
    expect(a.process.alive() && b.process.alive()).toBe(true);
  });

  it('shows a text push in the normalised groups', async () => {
    await push(a, '/metrics/job/x/instance/y', TEXT_BODY);
    const labels = { instance: 'y', job: 'x' };
    const groups = await a.groups();
    expect(groups).toEqual([
      {
        labels,
        metrics: {
          c: { type: 'COUNTER', help: '', metrics: [{ labels, value: '7' }] },
          g: { type: 'GAUGE', help: 'a gauge', metrics: [{ labels: { a: '1', ...labels }, value: '3.5' }] },
          h: {
            type: 'HISTOGRAM',
            help: '',
            metrics: [{ labels, buckets: { '+Inf': '4', '0.1': '1', '1': '3' }, count: '4', sum: '2.5' }],
          },
          s: {
            type: 'SUMMARY',
            help: 'a summary',
            metrics: [{ labels, quantiles: { '0.5': '1', '0.9': '2' }, count: '5', sum: '10' }],
          },
        },
      },
    ]);
    expect(Object.keys(groups[0]?.metrics ?? {})).toEqual(['c', 'g', 'h', 's']);
    await a.wipe();
  });

  it('shows a protobuf push in the normalised groups', async () => {
    const body = encodeDelimitedMetricFamilies([
      { name: 'pb_total', help: 'pushed as protobuf', type: 'COUNTER', metrics: [{ labels: { path: '/x' }, value: 3 }] },
      { name: 'pb_gauge', type: 'GAUGE', metrics: [{ value: -0.25 }, { labels: { z: 'é' }, value: Infinity }] },
      { name: 'pb_untyped', type: 'UNTYPED', metrics: [{ value: 42 }] },
    ]);
    await push(b, '/metrics/job/proto/instance/p1', body, PROTOBUF_CONTENT_TYPE);
    const labels = { instance: 'p1', job: 'proto' };
    expect(await b.groups()).toEqual([
      {
        labels,
        metrics: {
          pb_gauge: {
            type: 'GAUGE',
            help: '',
            // Entries sort by the JSON of their labels, and '"' sorts before '}': the longer label set comes first.
            metrics: [
              { labels: { ...labels, z: 'é' }, value: '+Inf' },
              { labels, value: '-0.25' },
            ],
          },
          pb_total: { type: 'COUNTER', help: 'pushed as protobuf', metrics: [{ labels: { ...labels, path: '/x' }, value: '3' }] },
          pb_untyped: { type: 'UNTYPED', help: '', metrics: [{ labels, value: '42' }] },
        },
      },
    ]);
    await b.wipe();
  });

  it('encodes timestamp_ms, which the gateway then rejects', async () => {
    const res = await fetch(`${b.url}/metrics/job/stamped`, {
      method: 'PUT',
      headers: { 'content-type': PROTOBUF_CONTENT_TYPE },
      body: encodeDelimitedMetricFamilies([{ name: 'stamped', type: 'GAUGE', metrics: [{ value: 1, timestampMs: 1_700_000_000_000 }] }]),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('must not have timestamps');
    await b.wipe();
  });

  it('sorts groups and entries so the view does not depend on server order', async () => {
    await push(a, '/metrics/job/order/instance/2', 'm{k="b"} 1\nm{k="a"} 2\n');
    await push(a, '/metrics/job/order/instance/1', 'm 1\n');
    const raw = await rawGroups(a.url);
    expect(raw).toHaveLength(2);
    expect(raw[0]).toHaveProperty('push_time_seconds');
    const forward = normaliseGroups(raw);
    const backward = normaliseGroups([...raw].reverse());
    expect(JSON.stringify(backward)).toBe(JSON.stringify(forward));
    expect(forward.map((g) => g.labels['instance'])).toEqual(['1', '2']);
    expect(forward[1]?.metrics['m']?.metrics.map((m) => m.labels['k'])).toEqual(['a', 'b']);
    await a.wipe();
  });

  it('comes back empty on the same port after SIGKILL and restart', async () => {
    await push(a, '/metrics/job/x/instance/y', TEXT_BODY);
    expect(await a.groups()).toHaveLength(1);
    const before = a.process;
    await a.kill();
    expect(before.alive()).toBe(false);
    await expect(fetch(`${a.url}/-/ready`)).rejects.toThrow();
    await a.restart();
    expect(a.process.pid).not.toBe(before.pid);
    expect(a.url).toBe(`http://127.0.0.1:${a.port}`);
    expect(await a.groups()).toEqual([]);
  });

  it('holds requests while stopped and answers them after cont', async () => {
    await push(b, '/metrics/job/held', 'held 1\n');
    b.stop();
    let settled = false;
    const held = fetch(`${b.url}/api/v1/metrics`).finally(() => {
      settled = true;
    });
    try {
      // The deadline is the proof: a running gateway answers /-/ready in well under a millisecond.
      await expect(fetch(`${b.url}/-/ready`, { signal: AbortSignal.timeout(300) })).rejects.toThrow(/abort|timeout/i);
      expect(settled).toBe(false);
    } finally {
      b.cont();
    }
    const res = await held;
    expect(res.status).toBe(200);
    await res.body?.cancel();
    expect((await b.groups()).map((g) => g.labels)).toEqual([{ job: 'held' }]);
  });

  it('wipe empties the gateway', async () => {
    await push(b, '/metrics/job/w1', 'w 1\n');
    await push(b, '/metrics/job/w2/instance/i', 'w 2\n');
    expect(await b.groups()).toHaveLength(3);
    await b.wipe();
    expect(await b.groups()).toEqual([]);
    expect(await rawGroups(b.url)).toEqual([]);
  });

  it('keeps state across SIGKILL when persistence is on, and lets args override defaults', async () => {
    // --log.level is also a default; kingpin would exit on the duplicate if it were not replaced.
    const gateway = await startPushgateway({ persistence: true, args: ['--log.level=info'] });
    started.push(gateway);
    await push(gateway, '/metrics/job/kept', 'kept 1\n');
    await waitFor(async () => (await readFile(gateway.logFile, 'utf8')).includes('metrics persisted'), {
      what: 'the persistence file to be written',
    });
    expect(existsSync(join(gateway.dir, 'pgw.data'))).toBe(true);
    await gateway.restart();
    expect((await gateway.groups()).map((g) => g.labels)).toEqual([{ job: 'kept' }]);
    await gateway.close();
    expect(existsSync(gateway.dir)).toBe(false);
  });

  it('fails fast with the log when the gateway cannot start', async () => {
    const port = await freePort();
    const attempt = startPushgateway({ port, args: ['--no-such-flag'] });
    await expect(attempt).rejects.toThrow(/did not become ready.*exited with code 1.*unknown long flag/s);
  });
});
