#!/usr/bin/env bash
# Installs every system dependency from Debian packages and fetches the Kafka
# broker jars. Idempotent: a second run on a ready machine takes about a second.
source "$(dirname "$0")/common.sh"

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libpqxx-dev libpq-dev librdkafka-dev libspdlog-dev libfmt-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev uuid-dev libjemalloc-dev
  postgresql-15 postgresql-client-15 openjdk-17-jre-headless maven kcat
  docker-compose python3-yaml  # tests/ops: validate docker-compose.yml (Debian has no 'docker compose' plugin)
  clang-format                 # tests: the C++ sources stay formatted (scripts/check-format.sh)
  prometheus libyaml-dev  # tests/ops: promtool checks and unit-tests deploy/prometheus; libyaml reads the rules
  nftables                # tests/fault: a silent (half-open) network to a private Postgres
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || die "missing packages (${missing[*]}); run this script as root"
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's prometheus package is here for promtool only: keep its server from running.
  if [[ " ${missing[*]} " == *" prometheus "* && -d /run/systemd/system ]]; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

"$OUTBOX_ROOT/scripts/fetch-kafka.sh"
