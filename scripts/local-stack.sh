#!/usr/bin/env bash
# Brings up pushring locally without Docker: 2 shards x 2 real Pushgateways (each with its own
# persistence file), the front door, and, when the prometheus binary is installed, Prometheus with
# config/prometheus.yml, its rules, and the file_sd targets the front door writes (and rewrites
# on every ring change, so Prometheus follows the ring).
#
# Environment, with its defaults:
#   PUSHRING_LOCAL_PORT               the front door's port                          9191
#   PUSHRING_LOCAL_PUSHGATEWAY_PORTS  shard a's two replicas, then shard b's         "9091 9092 9093 9094"
#   PUSHRING_LOCAL_PROMETHEUS_PORT    Prometheus's port                              9090
#   PUSHRING_LOCAL_PROMETHEUS         auto (start it when installed) or off          auto
#   PUSHRING_LOCAL_DIR                persistence files, logs, Prometheus's data     .local
#                                     (a relative path is taken from the repository root)
# With the default ports and directory the front door serves config/pushring.yaml: edit it to
# change the ring. Otherwise it serves a copy with these ports, $PUSHRING_LOCAL_DIR/pushring.yaml,
# rewritten at each start: edit that one.
#
# Ctrl-C or SIGTERM stops everything (exit 0). Anything that cannot start, or a process of the
# stack that exits, stops everything too, with a message saying which and why (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { echo "local-stack: $*"; }
fail() {
  echo "local-stack: $*" >&2
  exit 1
}

front_port=${PUSHRING_LOCAL_PORT:-9191}
read -r -a pgw_ports <<<"${PUSHRING_LOCAL_PUSHGATEWAY_PORTS:-9091 9092 9093 9094}"
prom_port=${PUSHRING_LOCAL_PROMETHEUS_PORT:-9090}
prom_mode=${PUSHRING_LOCAL_PROMETHEUS:-auto}
state=${PUSHRING_LOCAL_DIR:-$root/.local}
pgw_names=("the Pushgateway of shard a, replica 0" "the Pushgateway of shard a, replica 1"
  "the Pushgateway of shard b, replica 0" "the Pushgateway of shard b, replica 1")

((${#pgw_ports[@]} == 4)) || fail "PUSHRING_LOCAL_PUSHGATEWAY_PORTS lists ${#pgw_ports[@]} port(s), '${pgw_ports[*]}': give 4 (shard a's two replicas, then shard b's)"
for port in "$front_port" "${pgw_ports[@]}" "$prom_port"; do
  [[ $port =~ ^[1-9][0-9]{0,4}$ ]] && ((port <= 65535)) || fail "'$port' is not a port number (1-65535); see the PUSHRING_LOCAL_* variables at the top of $0"
done
duplicate=$(printf '%s\n' "$front_port" "${pgw_ports[@]}" "$prom_port" | sort | uniq -d | head -n 1)
[[ -z $duplicate ]] || fail "port $duplicate is given twice in PUSHRING_LOCAL_*: every process of the stack needs its own port"
case $prom_mode in auto | off) ;; *) fail "PUSHRING_LOCAL_PROMETHEUS is '$prom_mode': give auto or off" ;; esac
mkdir -p "$state"
state=$(cd "$state" && pwd)

if ! command -v prometheus-pushgateway >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing prometheus-pushgateway from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-pushgateway >/dev/null
  else
    fail "prometheus-pushgateway is not installed. Install it with:
  sudo apt-get update && sudo apt-get install prometheus-pushgateway
(or put a pushgateway binary on PATH under the name prometheus-pushgateway)"
  fi
fi
with_prometheus=false
if [[ $prom_mode == auto ]] && command -v prometheus >/dev/null 2>&1; then with_prometheus=true; fi

# Every port first, all at once: nothing is started when one is taken.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
busy=()
port_busy "$front_port" && busy+=("port $front_port is in use, so the front door cannot start: stop what holds it, or choose another port with PUSHRING_LOCAL_PORT")
for i in 0 1 2 3; do
  port_busy "${pgw_ports[$i]}" && busy+=("port ${pgw_ports[$i]} is in use, so ${pgw_names[$i]} cannot start: stop what holds it (a packaged Pushgateway? systemctl stop prometheus-pushgateway), or choose other ports with PUSHRING_LOCAL_PUSHGATEWAY_PORTS")
done
if $with_prometheus && port_busy "$prom_port"; then
  busy+=("port $prom_port is in use, so Prometheus cannot start: stop what holds it (a packaged Prometheus? systemctl stop prometheus), choose another port with PUSHRING_LOCAL_PROMETHEUS_PORT, or run without it: PUSHRING_LOCAL_PROMETHEUS=off")
fi
if ((${#busy[@]} > 0)); then
  for problem in "${busy[@]}"; do echo "local-stack: $problem" >&2; done
  exit 1
fi

[[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error
# Only when a source is newer than the build: a rebuild rewrites dist/ under any pushring
# process started from it meanwhile (the test suites run several at once).
if [[ ! -f dist/cli/main.js || -n $(find src tsconfig.json tsconfig.build.json package.json -newer dist/cli/main.js -print -quit) ]]; then
  npm run --silent build || fail "the build failed (npm run build): see the errors above"
fi

# The processes of the stack: pid, what it is, where it logs.
pids=()
names=()
logs=()
stopped_by=""
stop_all() {
  local pid n alive
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Graceful first (a Pushgateway writes its persistence file on SIGTERM), for up to 10 s.
  for ((n = 0; n < 100; n++)); do
    alive=false
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=true; done
    $alive || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
on_exit() {
  local status=$?
  # A second Ctrl-C must not cut the stop short and leave processes behind.
  trap '' INT TERM HUP
  trap - EXIT
  local pid live=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && live=$((live + 1)); done
  if ((live > 0)); then
    say "${stopped_by:+$stopped_by received: }stopping $live process(es)"
    stop_all
  fi
  ((status != 0)) || say "stopped"
  exit "$status"
}
on_signal() {
  stopped_by=$1
  exit 0
}
trap on_exit EXIT
trap 'on_signal SIGINT' INT
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGHUP' HUP

# What a log says went wrong: its last error lines (a Go panic ends in a goroutine dump), or
# its last lines.
log_tail() {
  local errors
  errors=$(grep -E 'level=(error|fatal)|^panic:|[Ee]rror' "$1" 2>/dev/null | tail -n 3) || true
  if [[ -n $errors ]]; then echo "$errors"; else tail -n 5 "$1" 2>/dev/null; fi | sed 's/^/    /'
}
# Sets $status to the exit status of process $1 (an index), which has exited. Not in $(...): a
# subshell cannot wait for this shell's children.
reap() {
  status=0
  wait "${pids[$1]}" 2>/dev/null || status=$?
}
# Waits until process $1 (an index) answers 2xx at $2; fails, naming it, if it exits first.
wait_ready() {
  local i=$1 url=$2 n
  for ((n = 0; n < 600; n++)); do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      reap "$i"
      fail "${names[$i]} exited during start-up (status $status); its log (${logs[$i]}) says:
$(log_tail "${logs[$i]}")"
    fi
    curl -fsS --max-time 1 -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "${names[$i]} did not become ready at $url within 60 s; see ${logs[$i]}"
}

mkdir -p "$state/logs" "$state/prometheus/targets"
targets="$state/prometheus/targets/pushring-targets.json"

# The front door's configuration. Its discovery.file is the file Prometheus reads, so that the
# front door's rewrite on a ring change reaches Prometheus.
if [[ $front_port == 9191 && ${pgw_ports[*]} == "9091 9092 9093 9094" && $state == "$root/.local" ]]; then
  config="$root/config/pushring.yaml"
else
  config="$state/pushring.yaml"
  node --input-type=module - "$root/config/pushring.yaml" "$config" "$targets" "$front_port" "${pgw_ports[@]}" <<'JS'
import { readFileSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
const [source, destination, targets, frontPort, ...pgwPorts] = process.argv.slice(2);
const ports = new Map([['9191', frontPort], ...['9091', '9092', '9093', '9094'].map((p, i) => [p, pgwPorts[i]])]);
const withPort = (address) => address.replace(/:(\d+)(?=\/?$)/, (whole, port) => `:${ports.get(port) ?? port}`);
const doc = parseDocument(readFileSync(source, 'utf8'));
doc.set('listen', withPort(String(doc.get('listen') ?? '127.0.0.1:9191')));
doc.toJS().shards.forEach((shard, i) =>
  shard.replicas.forEach((url, j) => doc.setIn(['shards', i, 'replicas', j], withPort(url))),
);
doc.setIn(['discovery', 'file'], targets);
const header = ` Written by scripts/local-stack.sh at each start, from ${source}, with the ports and\n directory of PUSHRING_LOCAL_*: edit this file to change the ring of the running stack.`;
doc.commentBefore = doc.commentBefore ? `${header}\n${doc.commentBefore}` : header;
writeFileSync(destination, String(doc));
JS
fi

# The front door judges every push (judge.mode: front-door): the Pushgateways run unchecked.
for i in 0 1 2 3; do
  port=${pgw_ports[$i]}
  prometheus-pushgateway --push.disable-consistency-check --web.listen-address="127.0.0.1:$port" \
    --persistence.file="$state/pushgateway-$port.data" --persistence.interval=30s \
    --web.enable-admin-api >"$state/logs/pushgateway-$port.log" 2>&1 &
  pids+=($!)
  names+=("${pgw_names[$i]} (127.0.0.1:$port)")
  logs+=("$state/logs/pushgateway-$port.log")
done
for i in 0 1 2 3; do wait_ready "$i" "http://127.0.0.1:${pgw_ports[$i]}/-/ready"; done

node bin/pushring.js serve --config "$config" > >(tee "$state/logs/pushring.log") 2>&1 &
pids+=($!)
names+=("the front door (127.0.0.1:$front_port)")
logs+=("$state/logs/pushring.log")
wait_ready 4 "http://127.0.0.1:$front_port/-/ready"

if $with_prometheus; then
  prom="$state/prometheus"
  # Relative paths in prometheus.yml resolve against its directory: targets/ is what the front
  # door writes (discovery.file), rules/ a copy of config/rules.
  sed "s/127\.0\.0\.1:9191/127.0.0.1:$front_port/g" config/prometheus.yml >"$prom/prometheus.yml"
  rm -rf "$prom/rules" && cp -r config/rules "$prom/rules"
  prometheus --config.file="$prom/prometheus.yml" --storage.tsdb.path="$prom/data" \
    --web.listen-address="127.0.0.1:$prom_port" >"$state/logs/prometheus.log" 2>&1 &
  pids+=($!)
  names+=("Prometheus (127.0.0.1:$prom_port)")
  logs+=("$state/logs/prometheus.log")
  wait_ready 5 "http://127.0.0.1:$prom_port/-/ready"
  prometheus_line="Prometheus: http://127.0.0.1:$prom_port (try: pushring:batch_duration_seconds:max, or batch_duration_seconds to see both replicas)"
elif [[ $prom_mode == off ]]; then
  prometheus_line="Prometheus: not started (PUSHRING_LOCAL_PROMETHEUS=off)"
else
  prometheus_line="Prometheus: not started (install it to see the series: apt-get install prometheus)"
fi

cat <<MSG

pushring is up. Push to http://127.0.0.1:$front_port exactly as to a Pushgateway:

  echo 'batch_duration_seconds 11' | curl --data-binary @- http://127.0.0.1:$front_port/metrics/job/nightly/instance/host1

Open http://127.0.0.1:$front_port/ in a browser: the groups, each shard's replicas, recent refusals.

Backends (each shard's two replicas hold the same groups):
  shard a: http://127.0.0.1:${pgw_ports[0]}  http://127.0.0.1:${pgw_ports[1]}
  shard b: http://127.0.0.1:${pgw_ports[2]}  http://127.0.0.1:${pgw_ports[3]}
The ring: $config (the front door follows edits; Prometheus's targets follow the ring).
Front door health: /-/healthy, /-/ready; its own metrics: /-/metrics; every group, as one Pushgateway: /metrics, /api/v1/metrics. Logs: $state/logs/
$prometheus_line
Press Ctrl-C to stop everything.
MSG

# Until a signal (the traps exit) or a process of the stack exits.
for (( ; ; )); do
  wait -n "${pids[@]}" || true
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      reap "$i"
      fail "${names[$i]} exited (status $status): stopping the rest; its log (${logs[$i]}) says:
$(log_tail "${logs[$i]}")"
    fi
  done
done
