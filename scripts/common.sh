# Shared helpers for the scripts in this folder. Source it; do not run it.
set -euo pipefail

OUTBOX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUTBOX_CACHE="${OUTBOX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/outbox-relay}"
OUTBOX_RUN_DIR="${OUTBOX_RUN_DIR:-/tmp/outbox-relay}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

log() { printf '%s %s\n' "[$(basename "$0")]" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# reserve_ports LO HI: keeps the kernel from handing LO..HI out as ephemeral
# (client) ports, so a test server restarted on a port in that range never
# finds it taken by some connection's local end (Linux picks client ports
# from 32768-60999, where the test ports are). Best effort: needs root.
reserve_ports() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports cur
  [[ -w $f ]] || return 0
  cur=$(cat "$f" 2>/dev/null || true)
  [[ ,$cur, == *",$1-$2,"* ]] && return 0
  echo "${cur:+$cur,}$1-$2" >"$f" 2>/dev/null || true
}

# wait_until SECONDS CMD...: polls CMD every 0.2 s until it succeeds or time runs out.
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# kill_pidfile FILE [SECONDS]: TERM the process, then KILL it if it outlives the grace period.
kill_pidfile() {
  local file=$1 grace=${2:-20} pid
  [[ -f $file ]] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_until "$grace" bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
    wait_until 10 bash -c "! kill -0 $pid 2>/dev/null" || true
  fi
  rm -f "$file"
}
