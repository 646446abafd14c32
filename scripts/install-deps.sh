#!/usr/bin/env bash
# Installs what modelgate needs to build and test on a Debian 12 machine.
# Idempotent: asks apt only for the packages that are missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost1.81-dev libyaml-cpp-dev libsimdjson-dev libfmt-dev libspdlog-dev
  libssl-dev libcrypt-dev libgtest-dev libgmock-dev libcli11-dev
  # sd_notify for Type=notify services; systemd-analyze verifies the unit in the tests.
  libsystemd-dev systemd
  # API keys' day and month budgets across restarts (auth.budgetsFile).
  libsqlite3-dev
  # Microbenchmarks of hot-path parts (pick_benchmark).
  libbenchmark-dev
  curl
  # The TLS tests make their certificates and probe the gateway with the openssl command.
  openssl
  # Fuzz targets (make fuzz; make test runs each briefly): clang++ and its libFuzzer runtime.
  clang libclang-rt-14-dev
  # The benchmark harness (make bench; make test runs its one-minute smoke version).
  nginx-light haproxy wrk gnuplot-nox
  # Tests: promtool validates /metrics; headless Chromium loads the dashboard.
  prometheus chromium
  # The nginx article's clients and load tool (test/seed/); ab also as the HTTP/1.0 client of the
  # integration tests; htpasswd makes the basicAuth entries of the middleware tests.
  python3-requests python3-aiohttp apache2-utils
  # The HA pair (deploy/keepalived/) and its test in network namespaces (ip netns).
  keepalived iproute2
  # Several gateways (docs/scale-out.md): configuration and membership in etcd, shared limits in
  # Redis; the tests start both on loopback.
  etcd-server etcd-client redis-server libhiredis-dev
)

# Node.js for the JavaScript clients in the tests; a machine that has it already keeps its own.
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "installing: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# JavaScript clients used by the tests (OpenAI SDK, browser driver).
if [ -f test/js/package-lock.json ] && [ ! -d test/js/node_modules ]; then
  (cd test/js && npm ci --no-audit --no-fund --loglevel=error)
fi
