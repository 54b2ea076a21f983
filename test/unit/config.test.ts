import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';

const minimal = `
shards:
  - name: a
    replicas: ["http://127.0.0.1:9091", "http://127.0.0.1:9092"]
`;

describe('parseConfig', () => {
  it('fills every default and freezes the result', () => {
    const result = parseConfig(minimal);
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.config).toEqual({
      listen: '127.0.0.1:9191',
      shards: [{ name: 'a', weight: 1, draining: false, replicas: ['http://127.0.0.1:9091', 'http://127.0.0.1:9092'] }],
      write: { ack: 'one', timeoutMs: 10_000, connectTimeoutMs: 1_000, maxBodyBytes: 16 * 1024 * 1024, connectionsPerBackend: 32 },
      judge: {
        mode: 'front-door',
        maxInflatedBytes: 64 * 1024 * 1024,
        maxFamilies: 10_000,
        maxSeriesPerPush: 100_000,
        maxLabelsPerSeries: 64,
        maxStringBytes: 64 * 1024,
        maxSeries: 5_000_000,
        startTimeoutMs: 60_000,
      },
      health: { intervalMs: 1_000, timeoutMs: 1_000, upAfterProbes: 2, scrapeIntervalMs: 15_000 },
      limits: { rules: [], limitDeletes: false, onStoreError: 'local', maxTrackedJobs: 100_000 },
      discovery: { shardLabel: 'shard', replicaLabel: 'replica', labels: {} },
      reconcile: { intervalSeconds: 30, concurrency: 4, indexCheckSeconds: 30, hints: { maxPerReplica: 10_000, maxBytes: 64 * 1024 * 1024 }, expire: [] },
      reload: { liveResize: true, intervalSeconds: 5 },
      auth: {
        credentials: [],
        anonymous: { push: [], delete: [], read: true },
        realm: 'pushring',
        secretsReloadSeconds: 10,
        failures: { perAddress: 10, windowSeconds: 60, maxAddresses: 100_000 },
      },
      server: {
        maxConnections: 4_096,
        maxHeaderBytes: 16_384,
        maxInflightBodyBytes: 256 * 1024 * 1024,
        maxUrlBytes: 8_192,
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 60_000,
        keepAliveTimeoutMs: 65_000,
        maxConcurrentReads: 4,
      },
      log: { level: 'info' },
    });
    expect(Object.isFrozen(result.config.shards[0]!.replicas)).toBe(true);
  });

  it('reports every problem of a file at once, each with where it is', () => {
    const result = parseConfig(`
listen: "nope"
shard: []
shards:
  - name: "-a"
    replicas: ["ftp://x", "http://127.0.0.1:9092"]
  - name: b
    weight: 0
    replicas: []
  - name: b
    replicas: ["http://127.0.0.1:9092/"]
write: { ack: some }
`);
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^shard: Unexpected property/),
        expect.stringMatching(/^shards\[0\]\.name: .*shard name is 1-63 letters/),
        expect.stringMatching(/^shards\[1\]\.replicas: Expected array length/),
        expect.stringMatching(/^shards\[1\]\.weight: Expected integer to be greater or equal to 1/),
        'write.ack: must be one of "one", "majority", "all"',
        'listen: "nope" is not host:port (for example 127.0.0.1:9191)',
        'shards[0].replicas[0]: "ftp://x" must use http or https',
        'shards[2].name: shard name "b" is already used by shards[1]; names must be unique',
        'shards[2].replicas[0]: http://127.0.0.1:9092/ is already listed at shards[0].replicas[1]; a Pushgateway can serve one replica of one shard only',
      ]),
    );
    expect(problems).toHaveLength(9);
  });

  it.each([
    ['shards: [{name: a, replicas: ["http://h:1"]}]\nlimits: {rules: [{jobs: x, pushes: 1}]}', 'limits.rules[0]: give both pushes and windowSeconds'],
    ['shards: [{name: a, replicas: ["http://h:1"]}]\nlimits: {rules: [{jobs: x, exempt: true, pushes: 1}]}', 'limits.rules[0]: an exempt rule takes no pushes'],
    [
      'shards: [{name: a, replicas: ["http://h:1"]}]\nlimits: {rules: [{jobs: x, exempt: true}, {jobs: x, exempt: true}]}',
      'limits.rules[1].name: rule name "x" is already used',
    ],
    ['shards: [{name: a, replicas: ["http://h:1"]}]\nredis: {}', 'redis: give exactly one of url, sentinels'],
    ['shards: [{name: a, replicas: ["http://h:1"]}]\nredis: {url: "http://x"}', 'redis.url: "http://x" must start with redis://'],
    ['shards: [{name: a, replicas: ["http://h:1"]}]\nredis: {sentinels: [{host: s, port: 26379}]}', 'redis.sentinelName: is required with sentinels'],
    ['shards: [{name: a, replicas: ["http://h:1"], draining: true}]', 'shards: every shard is draining'],
    ['', 'shards: is required'],
    ['shards:\n  - name: a\n', 'shards[0].replicas: is required'],
    ['shards: [', '(file): YAML'],
    ['shards: []', 'shards: Expected array length to be greater or equal to 1'],
  ])('explains %j', (text, start) => {
    const result = parseConfig(text);
    expect(result.ok ? '' : result.problems.map((p) => `${p.path}: ${p.message}`).join('\n')).toContain(start);
  });

  it.each([
    [
      'shards:\n  - name: a\n   replicas: ["http://h:1"]\n',
      '(file): YAML syntax error at line 3, column 1: Sequence item without - indicator (line 3 reads: "   replicas: [\\"http://h:1\\"]")',
    ],
    [
      'listen: "127.0.0.1:1"\nlisten: "127.0.0.1:2"\n',
      '(file): YAML syntax error at line 2, column 1: Map keys must be unique (line 2 reads: "listen: \\"127.0.0.1:2\\"")',
    ],
    ['shards:\n\t- name: a\n', '(file): YAML syntax error at line 2, column 1: Tabs are not allowed as indentation (line 2 reads: "\\t- name: a")'],
    ['listen: "127.0.0.1:1\n', '(file): YAML syntax error at line 2, column 1: Missing closing "quote'],
  ])('says where a YAML syntax error is and what it is: %j', (text, expected) => {
    const result = parseConfig(text);
    expect(result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([expected]);
  });

  const withAuth = (auth: string, tls = ''): string => `${minimal}${tls}auth:\n${auth}`;
  const problemsOf = (text: string): string[] => {
    const result = parseConfig(text);
    return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
  };

  it('accepts credentials of each kind with their scopes', () => {
    const result = parseConfig(
      withAuth(
        `  credentials:
    - { name: batch, token: { env: BATCH_TOKEN }, push: ["batch-*"], delete: ["batch-*"] }
    - { name: ops, basic: { username: ops, password: { file: /run/ops } }, admin: true }
    - { name: cert, certificate: { subject: "CN=batch-1,O=team-a" }, push: ["cert-*"] }
  anonymous: { push: ["public-*"], read: false }
`,
        'tls: { certFile: c.pem, keyFile: k.pem, clientCaFile: ca.pem }\n',
      ),
    );
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.config.auth.credentials.map((c) => [c.name, c.push, c.delete, c.admin])).toEqual([
      ['batch', ['batch-*'], ['batch-*'], false],
      ['ops', [], [], true],
      ['cert', ['cert-*'], [], false],
    ]);
    expect(result.config.auth.anonymous).toEqual({ push: ['public-*'], delete: [], read: false });
  });

  it.each([
    [
      '  credentials:\n    - { name: a, push: ["x"] }\n',
      'auth.credentials[0]: give one of token ({ file } or { env }), basic ({ username, password }) or certificate ({ subject })',
    ],
    [
      '  credentials:\n    - { name: a, token: { env: A }, basic: { username: u, password: { env: P } } }\n',
      'auth.credentials[0]: give exactly one of token, basic or certificate, not token and basic; make one credential of each',
    ],
    [
      '  credentials:\n    - { name: a, token: { env: A } }\n    - { name: a, token: { env: B } }\n',
      'auth.credentials[1].name: credential name "a" is already used by auth.credentials[0]; names must be unique',
    ],
    [
      '  credentials:\n    - { name: a, basic: { username: u, password: { env: A } } }\n    - { name: b, basic: { username: u, password: { env: B } } }\n',
      'auth.credentials[1].basic.username: user name "u" is already used by auth.credentials[0]; give each its own',
    ],
    [
      '  credentials:\n    - { name: a, certificate: { subject: "CN=a" } }\n',
      'auth.credentials[0].certificate: a certificate credential needs tls.clientCaFile (the CA that signs client certificates) and tls',
    ],
    [
      '  credentials:\n    - { name: a, token: { env: A }, push: ["  "] }\n',
      'auth.credentials[0].push[0]: is an empty glob; remove it, or write * for every job',
    ],
    ['  anonymous: { delete: [" "] }\n', 'auth.anonymous.delete[0]: is an empty glob; remove it, or write * for every job'],
  ])('refuses a bad credential list: %j', (auth, problem) => {
    expect(problemsOf(withAuth(auth))).toContain(problem);
  });

  it('refuses a certificate subject that does not parse, with a CA present', () => {
    const text = withAuth('  credentials:\n    - { name: a, certificate: { subject: "CN=a,OU" } }\n', 'tls: { certFile: c, keyFile: k, clientCaFile: ca }\n');
    expect(problemsOf(text)).toEqual(['auth.credentials[0].certificate.subject: "OU" is not KEY=value (for example CN=batch-1,O=team-a)']);
  });

  it('refuses an empty glob through the schema', () => {
    expect(problemsOf(withAuth('  credentials:\n    - { name: a, token: { env: A }, delete: [""] }\n')).join('\n')).toContain('auth.credentials[0].delete[0]');
  });
});

describe('parseConfig: replicas behind TLS and basic auth', () => {
  const basic = '{username: pushring, password: {file: /run/pg-password}}';
  it('takes a replica as { url, client } beside strings, and a shard-wide client', () => {
    const result = parseConfig(`
shards:
  - name: a
    client: {caFile: /etc/ca.pem, basicAuth: ${basic}}
    replicas: ["https://127.0.0.1:9091", {url: "https://127.0.0.1:9092", client: {serverName: pg-a1}}]
  - name: b
    replicas: ["http://127.0.0.1:9093"]
`);
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.config.shards[0]!.replicas[1]).toEqual({ url: 'https://127.0.0.1:9092', client: { serverName: 'pg-a1' } });
    expect(result.config.shards[0]!.client?.basicAuth?.password).toEqual({ file: '/run/pg-password' });
  });

  it.each([
    [`shards: [{name: a, replicas: [{url: "https://h:1", client: {certFile: /c.pem}}]}]`, 'shards[0].replicas[0].client.keyFile: is required with certFile'],
    [`shards: [{name: a, client: {keyFile: /k.pem}, replicas: ["https://h:1"]}]`, 'shards[0].client.certFile: is required with keyFile'],
    [
      `shards: [{name: a, client: {caFile: /ca.pem}, replicas: ["http://h:1"]}]`,
      'shards[0].replicas[0]: http://h:1 is plain HTTP but shards[0].client.caFile is set: use an https:// URL',
    ],
    [
      `shards: [{name: a, replicas: [{url: "http://h:1", client: {certFile: /c.pem, keyFile: /k.pem}}]}]`,
      'shards[0].replicas[0]: http://h:1 is plain HTTP but shards[0].replicas[0].client.certFile is set: use an https:// URL',
    ],
    [`shards: [{name: a, replicas: [{url: "ftp://h:1"}]}]`, 'shards[0].replicas[0].url: "ftp://h:1" must use http or https'],
    [`shards: [{name: a, replicas: ["https://h:1", {url: "https://h:1/"}]}]`, 'shards[0].replicas[1]: https://h:1/ is already listed at shards[0].replicas[0]'],
    [
      `shards: [{name: a, replicas: [{url: "https://h:1"}]}, {name: b, replicas: ["https://h:1"]}]`,
      'shards[1].replicas[0]: https://h:1 is already listed at shards[0].replicas[0]',
    ],
    [`shards: [{name: a, replicas: [{uri: "https://h:1"}]}]`, 'shards[0].replicas[0]: is neither a URL string nor { url, client } (url: is required'],
    [
      `shards: [{name: a, replicas: [{url: "https://h:1", client: {ca: x}}]}]`,
      'shards[0].replicas[0]: is neither a URL string nor { url, client } (client.ca: Unexpected property',
    ],
    [`shards: [{name: a, client: {basicAuth: {username: u, password: hunter2}}, replicas: ["https://h:1"]}]`, 'shards[0].client.basicAuth.password'],
    [
      `shards: [{name: a, replicas: ["https://u:hunter2@h:1"]}]`,
      'shards[0].replicas[0]: the URL of https://h:1 carries credentials: remove them and give client.basicAuth',
    ],
  ])('explains %j', (text, start) => {
    const result = parseConfig(text);
    const problems = result.ok ? '' : result.problems.map((p) => `${p.path}: ${p.message}`).join('\n');
    expect(problems).toContain(start);
    // A password written where a secret's source belongs is never repeated back.
    expect(problems).not.toContain('hunter2');
  });

  it('keeps a basic-auth password over plain HTTP (the operator may have a reason) and caFile on https', () => {
    const result = parseConfig(`shards: [{name: a, client: {basicAuth: ${basic}}, replicas: ["http://h:1", {url: "https://h:2", client: {caFile: /ca.pem}}]}]`);
    expect(result.ok ? [] : result.problems).toEqual([]);
  });
});
