/**
 * The Prometheus targets of a ring: one per backend, labelled with its shard and replica, in
 * the format file_sd and http_sd share. Pure: the same configuration gives the same bytes.
 */
import { basePathOf } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { replicaUrl } from '../core/replicas.js';

export interface TargetGroup {
  readonly targets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

export function buildTargets(config: Pick<Readonly<Config>, 'shards' | 'discovery'>): TargetGroup[] {
  const { shardLabel, replicaLabel, labels: staticLabels } = config.discovery;
  const groups: TargetGroup[] = [];
  for (const shard of config.shards) {
    shard.replicas.forEach((replica, i) => {
      const parsed = new URL(replicaUrl(replica));
      const port = parsed.port !== '' ? parsed.port : parsed.protocol === 'https:' ? '443' : '80';
      const basePath = basePathOf(parsed);
      const labels: Record<string, string> = { ...staticLabels, [shardLabel]: shard.name, [replicaLabel]: String(i) };
      // A Pushgateway under --web.route-prefix, or behind TLS, is scraped where it lives (the CA and
      // credentials for it are Prometheus's own scrape config: docs/prometheus.md).
      if (basePath !== '') labels['__metrics_path__'] = `${basePath}/metrics`;
      if (parsed.protocol === 'https:') labels['__scheme__'] = 'https';
      groups.push({ targets: [`${parsed.hostname}:${port}`], labels: sortKeys(labels) });
    });
  }
  return groups;
}

/** The file_sd / http_sd document: stable JSON with a final newline. */
export function formatTargets(groups: readonly TargetGroup[]): string {
  return JSON.stringify(groups, null, 2) + '\n';
}

function sortKeys(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
