#!/usr/bin/env bash
# Installs what the tests need: the real backends from Debian's packages and the npm
# dependencies. Idempotent: installs only what is missing; `apt-get update` runs once, first.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in prometheus-pushgateway:prometheus-pushgateway redis-server:redis-server prometheus:prometheus promtool:prometheus wrk:wrk openssl:openssl jq:jq curl:curl chromium:chromium; do
  bin=${pair%%:*} pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || [[ " ${need[*]-} " == *" $pkg "* ]] || need+=("$pkg")
done
# The page test's screenshot needs a font; chromium alone does not bring one.
[[ -d /usr/share/fonts/truetype/dejavu ]] || need+=(fonts-dejavu-core)
if ((${#need[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    echo "install-test-deps: missing ${need[*]}; run as root: apt-get update && apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "install-test-deps: installing ${need[*]} from Debian's packages"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts packaged services where it can; the tests run their own on free ports.
for svc in prometheus-pushgateway prometheus redis-server; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    echo "install-test-deps: note: the packaged $svc service is running; tests do not use it"
  fi
done

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
