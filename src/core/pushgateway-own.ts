/**
 * The families a Pushgateway exposes itself (its DefaultGatherer), which take part in the check of
 * every push: a pushed family of one of these names must have its type, its suffixed names collide
 * with theirs, and its help must match unless the name was present when the store was built
 * (predefinedHelp in storage/diskmetricstore.go: then the Pushgateway substitutes its own help).
 *
 * GENERATED from pushgateway, version 1.5.1 (branch: debian/sid, revision: 1.5.1-2+b5) by scripts/pushgateway-own-metrics.ts; do not edit.
 * test/behaviour/pushgateway-own.test.ts keeps it equal to what the binary exposes.
 */
import type { MetricType } from './push-body.js';

export interface OwnFamily {
  readonly type: MetricType;
  readonly help: string;
  /** Exposed before the first request, hence in predefinedHelp: a pushed family's help is replaced, never compared. */
  readonly presentAtStart: boolean;
}

export const PUSHGATEWAY_OWN_FAMILIES: ReadonlyMap<string, OwnFamily> = new Map<string, OwnFamily>([
  ['go_gc_duration_seconds', { type: 'SUMMARY', help: 'A summary of the pause duration of garbage collection cycles.', presentAtStart: true }],
  ['go_goroutines', { type: 'GAUGE', help: 'Number of goroutines that currently exist.', presentAtStart: true }],
  ['go_info', { type: 'GAUGE', help: 'Information about the Go environment.', presentAtStart: true }],
  ['go_memstats_alloc_bytes', { type: 'GAUGE', help: 'Number of bytes allocated and still in use.', presentAtStart: true }],
  ['go_memstats_alloc_bytes_total', { type: 'COUNTER', help: 'Total number of bytes allocated, even if freed.', presentAtStart: true }],
  ['go_memstats_buck_hash_sys_bytes', { type: 'GAUGE', help: 'Number of bytes used by the profiling bucket hash table.', presentAtStart: true }],
  ['go_memstats_frees_total', { type: 'COUNTER', help: 'Total number of frees.', presentAtStart: true }],
  ['go_memstats_gc_sys_bytes', { type: 'GAUGE', help: 'Number of bytes used for garbage collection system metadata.', presentAtStart: true }],
  ['go_memstats_heap_alloc_bytes', { type: 'GAUGE', help: 'Number of heap bytes allocated and still in use.', presentAtStart: true }],
  ['go_memstats_heap_idle_bytes', { type: 'GAUGE', help: 'Number of heap bytes waiting to be used.', presentAtStart: true }],
  ['go_memstats_heap_inuse_bytes', { type: 'GAUGE', help: 'Number of heap bytes that are in use.', presentAtStart: true }],
  ['go_memstats_heap_objects', { type: 'GAUGE', help: 'Number of allocated objects.', presentAtStart: true }],
  ['go_memstats_heap_released_bytes', { type: 'GAUGE', help: 'Number of heap bytes released to OS.', presentAtStart: true }],
  ['go_memstats_heap_sys_bytes', { type: 'GAUGE', help: 'Number of heap bytes obtained from system.', presentAtStart: true }],
  ['go_memstats_last_gc_time_seconds', { type: 'GAUGE', help: 'Number of seconds since 1970 of last garbage collection.', presentAtStart: true }],
  ['go_memstats_lookups_total', { type: 'COUNTER', help: 'Total number of pointer lookups.', presentAtStart: true }],
  ['go_memstats_mallocs_total', { type: 'COUNTER', help: 'Total number of mallocs.', presentAtStart: true }],
  ['go_memstats_mcache_inuse_bytes', { type: 'GAUGE', help: 'Number of bytes in use by mcache structures.', presentAtStart: true }],
  ['go_memstats_mcache_sys_bytes', { type: 'GAUGE', help: 'Number of bytes used for mcache structures obtained from system.', presentAtStart: true }],
  ['go_memstats_mspan_inuse_bytes', { type: 'GAUGE', help: 'Number of bytes in use by mspan structures.', presentAtStart: true }],
  ['go_memstats_mspan_sys_bytes', { type: 'GAUGE', help: 'Number of bytes used for mspan structures obtained from system.', presentAtStart: true }],
  ['go_memstats_next_gc_bytes', { type: 'GAUGE', help: 'Number of heap bytes when next garbage collection will take place.', presentAtStart: true }],
  ['go_memstats_other_sys_bytes', { type: 'GAUGE', help: 'Number of bytes used for other system allocations.', presentAtStart: true }],
  ['go_memstats_stack_inuse_bytes', { type: 'GAUGE', help: 'Number of bytes in use by the stack allocator.', presentAtStart: true }],
  ['go_memstats_stack_sys_bytes', { type: 'GAUGE', help: 'Number of bytes obtained from system for stack allocator.', presentAtStart: true }],
  ['go_memstats_sys_bytes', { type: 'GAUGE', help: 'Number of bytes obtained from system.', presentAtStart: true }],
  ['go_threads', { type: 'GAUGE', help: 'Number of OS threads created.', presentAtStart: true }],
  ['process_cpu_seconds_total', { type: 'COUNTER', help: 'Total user and system CPU time spent in seconds.', presentAtStart: true }],
  ['process_max_fds', { type: 'GAUGE', help: 'Maximum number of open file descriptors.', presentAtStart: true }],
  ['process_open_fds', { type: 'GAUGE', help: 'Number of open file descriptors.', presentAtStart: true }],
  ['process_resident_memory_bytes', { type: 'GAUGE', help: 'Resident memory size in bytes.', presentAtStart: true }],
  ['process_start_time_seconds', { type: 'GAUGE', help: 'Start time of the process since unix epoch in seconds.', presentAtStart: true }],
  ['process_virtual_memory_bytes', { type: 'GAUGE', help: 'Virtual memory size in bytes.', presentAtStart: true }],
  ['process_virtual_memory_max_bytes', { type: 'GAUGE', help: 'Maximum amount of virtual memory available in bytes.', presentAtStart: true }],
  [
    'pushgateway_build_info',
    {
      type: 'GAUGE',
      help: "A metric with a constant '1' value labeled by version, revision, branch, goversion from which pushgateway was built, and the goos and goarch for the build.",
      presentAtStart: true,
    },
  ],
  ['pushgateway_http_push_duration_seconds', { type: 'SUMMARY', help: 'HTTP request duration for pushes to the Pushgateway.', presentAtStart: false }],
  ['pushgateway_http_push_size_bytes', { type: 'SUMMARY', help: 'HTTP request size for pushes to the Pushgateway.', presentAtStart: false }],
  ['pushgateway_http_requests_total', { type: 'COUNTER', help: 'Total HTTP requests processed by the Pushgateway, excluding scrapes.', presentAtStart: false }],
]);
