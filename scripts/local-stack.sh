#!/usr/bin/env bash
# Brings up pushring locally without Docker: 2 shards x 2 real Pushgateways (ports 9091-9094,
# each with its own persistence file under .local/) and the front door on 127.0.0.1:9191,
# configured by config/pushring.yaml; and, when the prometheus binary is installed, Prometheus on
# 127.0.0.1:9090 with config/prometheus.yml, its rules, and the generated file_sd targets.
# Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state="$root/.local"
config="$root/config/pushring.yaml"

if ! command -v prometheus-pushgateway >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "local-stack: installing prometheus-pushgateway from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-pushgateway >/dev/null
  else
    echo "local-stack: prometheus-pushgateway is not installed. Install it with:" >&2
    echo "  sudo apt-get update && sudo apt-get install prometheus-pushgateway" >&2
    echo "(or put a pushgateway binary on PATH under the name prometheus-pushgateway)" >&2
    exit 1
  fi
fi
[[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build

mkdir -p "$state/logs"
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "local-stack: stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  exit 0
}
trap cleanup INT TERM EXIT

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_ready() {
  for _ in $(seq 1 100); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "local-stack: $1 did not become ready; see $state/logs" >&2
  return 1
}

if port_busy 9191; then
  echo "local-stack: port 9191 (the front door) is in use; stop what holds it" >&2
  exit 1
fi
for port in 9091 9092 9093 9094; do
  if port_busy "$port"; then
    echo "local-stack: port $port is in use (a packaged Pushgateway? stop it: systemctl stop prometheus-pushgateway)" >&2
    exit 1
  fi
  prometheus-pushgateway --web.listen-address="127.0.0.1:$port" \
    --persistence.file="$state/pushgateway-$port.data" --persistence.interval=30s \
    --web.enable-admin-api >"$state/logs/pushgateway-$port.log" 2>&1 &
  pids+=($!)
done
for port in 9091 9092 9093 9094; do wait_ready "http://127.0.0.1:$port/-/ready"; done

node bin/pushring.js serve --config "$config" > >(tee -a "$state/logs/pushring.log") 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:9191/-/ready"

prometheus_line="Prometheus: not started (install it to see the series: apt-get install prometheus)"
if command -v prometheus >/dev/null 2>&1; then
  if port_busy 9090; then
    prometheus_line="Prometheus: not started, port 9090 is in use (a packaged Prometheus? systemctl stop prometheus)"
  else
    prom="$state/prometheus"
    mkdir -p "$prom/targets"
    cp config/prometheus.yml "$prom/prometheus.yml"
    rm -rf "$prom/rules" && cp -r config/rules "$prom/rules"
    node bin/pushring.js sd write --config "$config" --out "$prom/targets/pushring-targets.json" >/dev/null
    prometheus --config.file="$prom/prometheus.yml" --storage.tsdb.path="$prom/data" \
      --web.listen-address=127.0.0.1:9090 >"$state/logs/prometheus.log" 2>&1 &
    pids+=($!)
    wait_ready "http://127.0.0.1:9090/-/ready"
    prometheus_line="Prometheus: http://127.0.0.1:9090 (try: pushring:batch_duration_seconds:max, or batch_duration_seconds to see both replicas)"
  fi
fi

cat <<MSG

pushring is up. Push to http://127.0.0.1:9191 exactly as to a Pushgateway:

  echo 'batch_duration_seconds 11' | curl --data-binary @- http://127.0.0.1:9191/metrics/job/nightly/instance/host1

Backends (each shard's two replicas hold the same groups):
  shard a: http://127.0.0.1:9091  http://127.0.0.1:9092
  shard b: http://127.0.0.1:9093  http://127.0.0.1:9094
Front door health: /-/healthy, /-/ready; its own metrics: /metrics. Logs: .local/logs/
$prometheus_line
Press Ctrl-C to stop everything.
MSG
wait -n "${pids[@]}" || true
echo "local-stack: a process exited; see $state/logs" >&2
