/**
 * The one schema of pushring's configuration; the `Config` type is derived from it.
 * Defaults and descriptions live here and nowhere else: docs/configuration.md's reference table
 * is generated from them (`npx tsx scripts/config-docs.ts`), and a unit test fails when it lags.
 * Descriptions are written for operators and may use Markdown.
 */
import { Type, type Static } from '@sinclair/typebox';

export const WriteSchema = Type.Object(
  {
    ack: Type.Union([Type.Literal('one'), Type.Literal('majority'), Type.Literal('all')], {
      default: 'one',
      description:
        'How many replicas of the owner shard must store a push before the client hears success: one, ' + 'a majority (⌊R/2⌋ + 1 of R) or all of them.',
    }),
    timeoutMs: Type.Integer({
      minimum: 1,
      maximum: 600_000,
      default: 10_000,
      description: 'Time-out of one write to one replica, in milliseconds, time queued for a connection included.',
    }),
    connectTimeoutMs: Type.Integer({ minimum: 1, maximum: 60_000, default: 1_000, description: 'TCP connect time-out to a replica, in milliseconds.' }),
    maxBodyBytes: Type.Integer({
      minimum: 1024,
      maximum: 1 << 30,
      default: 16 * 1024 * 1024,
      description: 'Largest push body accepted, in bytes (16 MiB by default); larger pushes get 413 `PUSHRING_BODY_TOO_LARGE`.',
    }),
    connectionsPerBackend: Type.Integer({ minimum: 1, maximum: 1024, default: 32, description: 'Keep-alive connections kept open to each replica.' }),
  },
  { additionalProperties: false, default: {}, description: 'How a push is written to the replicas of its shard.' },
);

export const HealthSchema = Type.Object(
  {
    intervalMs: Type.Integer({
      minimum: 100,
      maximum: 3_600_000,
      default: 1_000,
      description: "How often every replica's `/-/healthy` is probed, in milliseconds.",
    }),
    timeoutMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 1_000, description: 'Time-out of one probe, in milliseconds.' }),
    upAfterProbes: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 2,
      description:
        'Consecutive successful probes before a replica that was down takes writes again (a replica slow on ' +
        'writes but quick on `/-/healthy` would otherwise flap).',
    }),
    scrapeIntervalMs: Type.Integer({
      minimum: 0,
      maximum: 3_600_000,
      default: 15_000,
      description:
        "How often every replica's own scrape (`GET /metrics`, as Prometheus reads it) is checked, in milliseconds; " +
        '`0` turns the check off. A Pushgateway holding inconsistent groups answers it with 500 while `/-/healthy` ' +
        'stays 200: such a replica still takes writes, is reported in `pushring_backend_scrape_ok`, and is healed ' +
        'by the reconciler (docs/reconciler.md#healing-a-broken-scrape). Each check is one `GET /metrics` per replica ' +
        'per front door, with the time-out of `write.timeoutMs`.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Active health checks of every replica, on top of the failures writes detect.' },
);

export const LogSchema = Type.Object(
  {
    level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info', description: 'The least severe level logged; `silent` logs nothing.' },
    ),
  },
  { additionalProperties: false, default: {}, description: 'Logging: JSON lines on stdout.' },
);

export const LimitRuleSchema = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_.:*?-]{1,64}$',
        description: "The rule's name in 429 answers and in `pushring_pushes_limited_total{rule}`; unique. Absent: the `jobs` glob.",
      }),
    ),
    jobs: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'A glob over the whole job name: `*` any run of characters, `?` one character, everything else literal.',
    }),
    pushes: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Pushes accepted per job in one window; required unless `exempt`.' }),
    ),
    windowSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'Length of the window, in seconds; required unless `exempt`.' })),
    exempt: Type.Optional(Type.Boolean({ description: '`true`: matching jobs are never limited (give no `pushes` or `windowSeconds` then).' })),
  },
  { additionalProperties: false },
);

export const LimitSchema = Type.Object(
  {
    pushes: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Pushes accepted per job in one window.' }),
    windowSeconds: Type.Integer({
      minimum: 1,
      maximum: 86_400,
      description: "Length of the window, in seconds; a job's window opens with its first push.",
    }),
  },
  {
    additionalProperties: false,
    description: '`{ pushes, windowSeconds }`: the limit of jobs that no rule matches. Absent: such jobs are not limited.',
  },
);

export const LimitsSchema = Type.Object(
  {
    default: Type.Optional(LimitSchema),
    rules: Type.Array(LimitRuleSchema, {
      maxItems: 1000,
      default: [],
      description: 'Tried in order; the first rule whose `jobs` glob matches the job applies, else `limits.default`.',
    }),
    limitDeletes: Type.Boolean({ default: false, description: 'Whether DELETEs count against the limit of their job.' }),
    onStoreError: Type.Union([Type.Literal('local'), Type.Literal('open')], {
      default: 'local',
      description: 'When Redis fails: `local` counts per front door meanwhile; `open` lets every push through.',
    }),
    maxTrackedJobs: Type.Integer({
      minimum: 100,
      maximum: 10_000_000,
      default: 100_000,
      description: 'Windows (one per job) one front door keeps in memory at most; the oldest are forgotten first.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Rate limits per job (docs/rate-limits.md).' },
);

const RedisNode = Type.Object(
  {
    host: Type.String({ minLength: 1, description: 'Host name or IP address of the node.' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'Port of the node.' }),
  },
  { additionalProperties: false },
);

export const RedisSchema = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 1, description: 'A standalone Redis: `redis://[:password@]host:port[/db]` or `rediss://…`.' })),
    sentinels: Type.Optional(
      Type.Array(RedisNode, {
        minItems: 1,
        maxItems: 32,
        description: 'Redis Sentinel, instead of `url`: the sentinels, `[{ host, port }, …]`; needs `sentinelName`.',
      }),
    ),
    sentinelName: Type.Optional(Type.String({ minLength: 1, description: 'With `sentinels`: the name of the master set (for example `mymaster`).' })),
    cluster: Type.Optional(
      Type.Array(RedisNode, {
        minItems: 1,
        maxItems: 64,
        description: 'Redis Cluster, instead of `url`: some of its nodes, `[{ host, port }, …]`.',
      }),
    ),
    password: Type.Optional(Type.String({ description: 'Password for Sentinel or Cluster (with `url`, put it in the URL).' })),
    sentinelPassword: Type.Optional(Type.String({ description: 'Password of the sentinels themselves, when they require one.' })),
    keyPrefix: Type.String({
      default: 'pushring:',
      description:
        'Prefix of every key pushring writes (rate-limit windows, hints, suspect marks, the reconcile lease, the ' +
        "ring in force and ring changes, the judge's index). Give each deployment sharing a Redis its own.",
    }),
    commandTimeoutMs: Type.Integer({
      minimum: 10,
      maximum: 60_000,
      default: 250,
      description: 'A Redis command slower than this, in milliseconds, counts as a failure.',
    }),
    connectTimeoutMs: Type.Integer({
      minimum: 10,
      maximum: 60_000,
      default: 1_000,
      description: 'Connect time-out, in milliseconds; at start-up the front door waits up to twice this for Redis, then starts anyway.',
    }),
  },
  {
    additionalProperties: false,
    description:
      'Shared state of several front doors: rate-limit counters, hints, suspect marks, the reconcile lease, the ' +
      'ring in force and ring changes, and the index every push is judged against (judge.mode front-door: while ' +
      'Redis does not answer, pushes are refused; lost, the index is built again from the backends). Give exactly ' +
      'one of `url`, `sentinels` or `cluster`. Absent: all of it is kept in memory, per front door.',
  },
);

export const ReconcileSchema = Type.Object(
  {
    intervalSeconds: Type.Integer({
      minimum: 0,
      maximum: 86_400,
      default: 30,
      description: 'Seconds between reconciler passes in `serve`; `0` turns the loop off there (run `pushring reconcile` instead).',
    }),
    concurrency: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 4,
      description: 'Copies and deletes in flight at once during a pass, so that pushes keep flowing during repairs.',
    }),
    indexCheckSeconds: Type.Integer({
      minimum: 0,
      maximum: 86_400,
      default: 30,
      description:
        "With judge.mode front-door: the least time between two passes that also check the judge's index against the " +
        'replicas (docs/judging.md); `0`: every pass. Passes come more often during a ring change or a repair.',
    }),
    hints: Type.Object(
      {
        maxPerReplica: Type.Integer({
          minimum: 0,
          maximum: 1_000_000,
          default: 10_000,
          description: 'Hints kept per replica (in memory, or in its list in Redis); older ones are dropped, and the reconciler still repairs by copying.',
        }),
        maxBytes: Type.Integer({
          minimum: 0,
          maximum: 1 << 30,
          default: 64 * 1024 * 1024,
          description: 'Bytes of hints one front door keeps in memory in all (64 MiB by default); in Redis, `maxPerReplica` bounds each list.',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Bounds of the hints (writes a replica missed) kept for replay.' },
    ),
    expire: Type.Array(
      Type.Object(
        {
          jobs: Type.String({ minLength: 1, maxLength: 256, description: 'A glob over the whole job name, as in `limits.rules[].jobs`.' }),
          maxAgeSeconds: Type.Integer({
            minimum: 60,
            maximum: 31_536_000,
            description: 'Groups of matching jobs whose newest `push_time_seconds` is older than this, in seconds, are deleted from every replica.',
          }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 1000, default: [], description: 'Expiry rules, `{ jobs, maxAgeSeconds }`; the first whose `jobs` matches applies.' },
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'The reconciler: repairs replicas, moves groups on ring changes, expires old groups (docs/reconciler.md).',
  },
);

const LabelName = Type.String({ pattern: '^[a-zA-Z_][a-zA-Z0-9_]*$' });

export const DiscoverySchema = Type.Object(
  {
    file: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Where `serve` and `sd write` write the Prometheus file_sd targets. Absent: not written (http_sd at `/-/sd/targets` still works).',
      }),
    ),
    shardLabel: Type.String({
      pattern: '^[a-zA-Z][a-zA-Z0-9_]*$',
      default: 'shard',
      description: "Target label naming a backend's shard; refused as a grouping label of pushes.",
    }),
    replicaLabel: Type.String({
      pattern: '^[a-zA-Z][a-zA-Z0-9_]*$',
      default: 'replica',
      description: "Target label naming a backend's replica; refused as a grouping label of pushes. Must differ from `shardLabel`.",
    }),
    labels: Type.Record(LabelName, Type.String(), {
      default: {},
      description: 'Static labels added to every target (for example `env: prod`); not the shard or replica label, nor a name starting with `__`.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'How Prometheus finds the backends (docs/prometheus.md).' },
);

export const JudgeSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('front-door'), Type.Literal('backends')], {
      default: 'front-door',
      description:
        "`front-door`: pushring judges every push against an index of every group (the Pushgateway's consistency " +
        'check, done incrementally) and its Pushgateways run with `--push.disable-consistency-check`; a judged, stored ' +
        'push is answered 200. `backends`: each Pushgateway checks what it receives (run them with default flags); ' +
        'pushring only refuses the pushes that would poison them. Several front doors without Redis must use ' +
        '`backends` (docs/judging.md).',
    }),
    maxInflatedBytes: Type.Integer({
      minimum: 1024,
      maximum: 1 << 30,
      default: 64 * 1024 * 1024,
      description: 'Largest push body after gunzip, in bytes; a larger one (a gzip bomb) gets 413 `PUSHRING_BODY_LIMIT` and is never fully inflated.',
    }),
    maxFamilies: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000, description: 'Metric families in one push.' }),
    maxSeriesPerPush: Type.Integer({
      minimum: 1,
      maximum: 10_000_000,
      default: 100_000,
      description: 'Series in one push, all families together (a histogram or summary is one series).',
    }),
    maxLabelsPerSeries: Type.Integer({ minimum: 1, maximum: 10_000, default: 64, description: 'Labels of one series in a push body.' }),
    maxStringBytes: Type.Integer({
      minimum: 64,
      maximum: 16 * 1024 * 1024,
      default: 64 * 1024,
      description: 'Bytes of any one metric name, label name, label value or help text in a push body.',
    }),
    maxSeries: Type.Integer({
      minimum: 1_000,
      maximum: 100_000_000,
      default: 5_000_000,
      description:
        'Series the index may hold for the whole ring (its memory, or Redis memory, is bounded by this: see ' +
        'docs/judging.md for bytes per series). A push that would pass it gets 507 `PUSHRING_INDEX_FULL`.',
    }),
    startTimeoutMs: Type.Integer({
      minimum: 100,
      maximum: 600_000,
      default: 60_000,
      description:
        'With `front-door`: how long a push waits for the index to be built from the backends when the front door ' +
        'starts, in milliseconds, before it is answered 503 `PUSHRING_JUDGE_STARTING`.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Who judges pushes, and the bounds every push body must keep (docs/judging.md).' },
);

/** Where a secret is read from; never the secret itself in the configuration file. */
export const SecretSchema = Type.Union(
  [
    Type.Object(
      { file: Type.String({ minLength: 1, description: 'A file holding the secret (one trailing newline is dropped).' }) },
      { additionalProperties: false },
    ),
    Type.Object(
      { env: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$', description: 'An environment variable of the front door holding the secret.' }) },
      { additionalProperties: false },
    ),
  ],
  {
    description:
      '`{ file: path }` or `{ env: NAME }`: where the secret is read from (never the secret itself). Files are read again every ' +
      '`auth.secretsReloadSeconds`; a changed secret is in force without a restart.',
  },
);

const ShardName = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$',
  description:
    'Unique; 1–63 letters, digits, `_`, `.` or `-`, starting with a letter or digit. Groups are placed on names: ' +
    'replacing a replica URL moves no groups; renaming a shard moves its groups.',
});

/** How pushring reaches Pushgateways run with `--web.config.file` (TLS, basic auth). */
export const BackendClientSchema = Type.Object(
  {
    caFile: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "PEM file of the CAs that sign the replicas' server certificates (`https://` URLs only). Absent: the system's CAs. " +
          'Like `certFile` and `keyFile`, checked for a change at every health probe: new connections use the new file without a restart.',
      }),
    ),
    certFile: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'PEM file of the client certificate pushring presents, for a Pushgateway whose `client_auth_type` asks for one (`https://` only; needs `keyFile`).',
      }),
    ),
    keyFile: Type.Optional(Type.String({ minLength: 1, description: "PEM file of the client certificate's private key (needs `certFile`)." })),
    serverName: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 253,
        description: "The name the replica's certificate must carry, when it is not the URL's host (SNI and verification). Absent: the URL's host.",
      }),
    ),
    basicAuth: Type.Optional(
      Type.Object(
        {
          username: Type.String({ minLength: 1, maxLength: 256, pattern: '^[^:]*$', description: "A user of the Pushgateway's `basic_auth_users` (no `:`)." }),
          password: SecretSchema,
        },
        {
          additionalProperties: false,
          description:
            'Basic auth sent with every request to the replica: writes, deletes, health and scrape probes, reads and repairs. The password ' +
            'is read again every `auth.secretsReloadSeconds`; a replica answering 401 or 403 is down until it accepts them.',
        },
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      'How pushring connects to Pushgateways behind TLS or basic auth (`--web.config.file`, docs/security.md). Given on a shard it applies ' +
      "to each of its replicas; a replica's own `client` replaces it field by field. Changing it moves no groups.",
  },
);

const ReplicaSchema = Type.Union([
  Type.String({ minLength: 1 }),
  Type.Object(
    {
      url: Type.String({ minLength: 1, description: 'Base URL of the Pushgateway, as in the string form.' }),
      client: Type.Optional(
        Type.Object(BackendClientSchema.properties, {
          additionalProperties: false,
          description: "This replica's own client settings (the keys of `shards[].client`); each key given replaces the shard's.",
        }),
      ),
    },
    { additionalProperties: false },
  ),
]);

export const ShardSchema = Type.Object(
  {
    name: ShardName,
    replicas: Type.Array(ReplicaSchema, {
      minItems: 1,
      maxItems: 16,
      description:
        "The Pushgateways that each hold a full copy of this shard's groups, each a base URL `http://host:port` " +
        '(or `https`), optionally with a path prefix for `--web.route-prefix`, or `{ url, client }` to give that replica its own ' +
        'client settings. A URL may appear once in the whole file. A replica\'s `replica` label is its position: `"0"`, `"1"`, …',
    }),
    client: Type.Optional(BackendClientSchema),
    weight: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 1,
      description: 'A shard of weight 2 owns about twice the groups of one of weight 1. Changing it moves groups only to or from that shard.',
    }),
    draining: Type.Boolean({
      default: false,
      description:
        '`true`: the shard owns no groups; they move to the other shards, and its backends stay known (and listed ' +
        'for Prometheus) until the shard is removed from the file (docs/resizing.md).',
    }),
  },
  { additionalProperties: false },
);

const JobGlobs = (what: string) =>
  Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
    maxItems: 256,
    default: [],
    description: `Job globs (\`*\` any run, \`?\` one character) ${what}.`,
  });

export const CredentialSchema = Type.Object(
  {
    name: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$',
      description: "The credential's name in 403 answers, logs and `pushring_auth_refusals_total{credential}`; unique. Never a secret.",
    }),
    token: Type.Optional(SecretSchema),
    basic: Type.Optional(
      Type.Object(
        {
          username: Type.String({ minLength: 1, maxLength: 256, pattern: '^[^:]*$', description: 'The basic-auth user name (no `:`).' }),
          password: SecretSchema,
        },
        { additionalProperties: false, description: 'HTTP basic auth: a user name and where its password is read from.' },
      ),
    ),
    certificate: Type.Optional(
      Type.Object(
        {
          subject: Type.String({
            minLength: 3,
            maxLength: 1024,
            description:
              "Attributes the client certificate's subject must have, `CN=batch-1,O=team-a` (comma-separated `KEY=value`, any order; " +
              'every one given must match, others are ignored). The certificate must be signed by `tls.clientCaFile`.',
          }),
        },
        { additionalProperties: false, description: 'A TLS client certificate (needs `tls.clientCaFile`).' },
      ),
    ),
    push: JobGlobs('this credential may push to (PUT, POST)'),
    delete: JobGlobs('whose groups this credential may delete'),
    admin: Type.Boolean({
      default: false,
      description:
        'May call the administrative endpoints, every path under `/api/v1/admin/`: the wipe of the ring and the delete of every group of a job glob.',
    }),
  },
  {
    additionalProperties: false,
    description: 'One credential: exactly one of `token` (a bearer token), `basic` or `certificate`, and what it may do.',
  },
);

export const AuthSchema = Type.Object(
  {
    credentials: Type.Array(CredentialSchema, {
      maxItems: 10_000,
      default: [],
      description:
        'Who may push or delete which jobs. None: the front door is open, as a Pushgateway is. Any: a request must present one ' +
        '(401 otherwise) unless `anonymous` grants what it asks, and may do only what its credential grants (403 otherwise).',
    }),
    anonymous: Type.Object(
      {
        push: JobGlobs('a request without credentials may push to, once credentials are configured'),
        delete: JobGlobs('whose groups a request without credentials may delete, once credentials are configured'),
        read: Type.Boolean({
          default: true,
          description: 'Whether reads (GET of the status, targets, self-metrics) need no credential. `/-/healthy` and `/-/ready` never need one.',
        }),
      },
      { additionalProperties: false, default: {}, description: 'What a request without credentials may do once credentials are configured.' },
    ),
    realm: Type.String({
      minLength: 1,
      maxLength: 128,
      pattern: '^[^"\\\\]*$',
      default: 'pushring',
      description: 'The realm of the `WWW-Authenticate` challenge sent with a 401.',
    }),
    secretsReloadSeconds: Type.Integer({
      minimum: 1,
      maximum: 3_600,
      default: 10,
      description: 'How often secret files are read again, in seconds (rotation without a restart).',
    }),
    failures: Type.Object(
      {
        perAddress: Type.Integer({
          minimum: 1,
          maximum: 1_000_000,
          default: 10,
          description: 'Failed authentications one client address may make in a window; past that its requests get 429 until the window ends.',
        }),
        windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 60, description: 'The window, in seconds.' }),
        maxAddresses: Type.Integer({
          minimum: 100,
          maximum: 10_000_000,
          default: 100_000,
          description: 'Client addresses tracked at most (per front door, in memory); the oldest are forgotten first.',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Guessing is slow: failed authentication is limited per client address.' },
    ),
  },
  { additionalProperties: false, default: {}, description: 'Credentials scoped to jobs (docs/security.md).' },
);

export const TlsSchema = Type.Object(
  {
    certFile: Type.String({ minLength: 1, description: "PEM file of the front door's certificate (with its chain)." }),
    keyFile: Type.String({ minLength: 1, description: 'PEM file of its private key.' }),
    clientCaFile: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'PEM file of the CAs that sign client certificates. Given: clients are asked for a certificate (not required: ' +
          'a request without one is judged by `auth` like any other), and `certificate` credentials can match.',
      }),
    ),
    minVersion: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { default: 'TLSv1.2', description: 'The oldest TLS version accepted.' }),
    reloadSeconds: Type.Integer({
      minimum: 1,
      maximum: 3_600,
      default: 10,
      description: 'How often the three files are checked for a change, in seconds; a changed pair is served to new connections without a restart.',
    }),
  },
  { additionalProperties: false, description: 'HTTPS on the front door. Absent: plain HTTP (terminate TLS at a load balancer instead).' },
);

export const ServerSchema = Type.Object(
  {
    maxConnections: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      default: 4_096,
      description: 'Client connections open at once at most; connections past it are closed at once.',
    }),
    maxHeaderBytes: Type.Integer({
      minimum: 1_024,
      maximum: 1_048_576,
      default: 16_384,
      description: 'Largest request line plus headers, in bytes; larger requests get 431.',
    }),
    maxInflightBodyBytes: Type.Integer({
      minimum: 1_048_576,
      maximum: 64 * 1024 * 1024 * 1024,
      default: 256 * 1024 * 1024,
      description:
        'Bytes of request bodies (as received, and once gunzipped) the front door holds at once over every connection; a request ' +
        'that would pass it gets 503 `PUSHRING_OVERLOADED` with `Retry-After` before its body is read. At least ' +
        '`write.maxBodyBytes` + `judge.maxInflatedBytes`, so that the largest push fits alone.',
    }),
    maxUrlBytes: Type.Integer({
      minimum: 256,
      maximum: 65_536,
      default: 8_192,
      description: 'Longest request URL, in bytes; longer ones get 414 (one longer than `maxHeaderBytes` gets 431 first: the URL is part of the headers).',
    }),
    headersTimeoutMs: Type.Integer({
      minimum: 100,
      maximum: 600_000,
      default: 10_000,
      description:
        'Time a client has to send the request line and headers, in milliseconds; a slower one gets 408 and is disconnected ' +
        '(checked every quarter of it, at most every second; never more than `requestTimeoutMs`).',
    }),
    requestTimeoutMs: Type.Integer({
      minimum: 1_000,
      maximum: 3_600_000,
      default: 60_000,
      description: 'Time a client has to send a whole request (body included), in milliseconds; a slower one gets 408 and is disconnected.',
    }),
    keepAliveTimeoutMs: Type.Integer({
      minimum: 100,
      maximum: 600_000,
      default: 65_000,
      description: 'How long an idle keep-alive connection stays open, in milliseconds; keep it above the idle time-out of a load balancer in front.',
    }),
    maxConcurrentReads: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 4,
      description:
        'Reads of every group this front door answers at once (`GET /metrics`, `GET /api/v1/metrics`, `GET /-/api/groups`, the page); ' +
        'one more gets 503 `PUSHRING_READS_BUSY` with `Retry-After`. Each replica keeps twice as many connections for them, ' +
        'apart from writes and the reconciler, so a read never waits for a connection.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Limits on client connections: what a slow or hostile client can cost (docs/security.md).' },
);

export const ConfigSchema = Type.Object(
  {
    listen: Type.String({
      default: '127.0.0.1:9191',
      description: '`host:port` the front door listens on (`0.0.0.0:9191` for every interface).',
    }),
    shards: Type.Array(ShardSchema, {
      minItems: 1,
      maxItems: 1024,
      description: 'The ring: the shards groups are placed on by consistent hashing of their grouping key.',
    }),
    write: WriteSchema,
    judge: JudgeSchema,
    health: HealthSchema,
    limits: LimitsSchema,
    discovery: DiscoverySchema,
    reconcile: ReconcileSchema,
    reload: Type.Object(
      {
        liveResize: Type.Boolean({
          default: true,
          description:
            'Apply ring changes live: write both owners of moving groups during a change, move groups between shards ' +
            '(docs/resizing.md); several front doors coordinate through Redis. Off, a ring change takes effect at the ' +
            'next restart and the reconciler never moves groups between shards; the file is still watched for the credential list (`auth`).',
        }),
        intervalSeconds: Type.Integer({
          minimum: 1,
          maximum: 3_600,
          default: 5,
          description:
            "How often `serve` re-reads its configuration file, in seconds (it also watches the file's directory). The " +
            'credential list (`auth`) is applied first and on its own; `shards` and `discovery` follow with `liveResize`; ' +
            'other changes are logged as needing a restart.',
        }),
      },
      { additionalProperties: false, default: {}, description: 'How `serve` picks up an edited configuration file.' },
    ),
    redis: Type.Optional(RedisSchema),
    auth: AuthSchema,
    tls: Type.Optional(TlsSchema),
    server: ServerSchema,
    log: LogSchema,
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type ShardConfig = Static<typeof ShardSchema>;
export type ReplicaConfig = Static<typeof ReplicaSchema>;
export type BackendClientConfig = Static<typeof BackendClientSchema>;
export type AckPolicy = Config['write']['ack'];
export type LimitsConfig = Config['limits'];
export type DiscoveryConfig = Config['discovery'];
export type ReconcileConfig = Config['reconcile'];
export type RedisConfig = NonNullable<Config['redis']>;
export type JudgeConfig = Config['judge'];
export type AuthConfig = Config['auth'];
export type CredentialConfig = AuthConfig['credentials'][number];
export type SecretSource = Static<typeof SecretSchema>;
export type TlsConfig = NonNullable<Config['tls']>;
export type ServerConfig = Config['server'];
