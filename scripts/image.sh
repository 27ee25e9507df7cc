#!/usr/bin/env bash
# Builds the repository's Dockerfile into a real image without a Docker engine,
# runs outbox-relay from it against throwaway test servers, and prints its size.
#   scripts/image.sh [all|base|build|run|size|clean]     (default: all = base build run size)
#
# base   Debian bookworm and bookworm-slim base images, made with mmdebstrap from
#        Debian's archive (no container registry is needed), stored as the local
#        images debian:bookworm[-slim] that the Dockerfile's FROM lines resolve to.
# build  buildah bud of the Dockerfile: vfs storage, chroot isolation, --pull=never.
# run    From the image, against scripts/pg.sh and scripts/kafka.sh servers: migrate,
#        run the relay with /metrics, let the image's order-service write orders, wait
#        until all are published, SIGTERM (exit 0 after the drain), then
#        `outbox-relay check` audits Kafka against the outbox (exit 0: nothing lost).
# size   The image's size as buildah stores it, and as a compressed OCI archive.
# clean  Removes the image store.
#
# Needs root (mmdebstrap and buildah's chroot isolation) and Debian's archive;
# installs buildah and mmdebstrap from Debian when missing. Not part of the test
# suite: 6 to 10 minutes on 2 shared cores (docs/operations.md#building-the-container-image).
#
# Environment: OUTBOX_IMAGE_STORE (/var/tmp/outbox-image), OUTBOX_IMAGE_TAG
# (localhost/outbox-relay:dev), OUTBOX_IMAGE_PG_PORT (54432), OUTBOX_IMAGE_KAFKA_PORT
# (58092; +1 for its controller), OUTBOX_IMAGE_HTTP_PORT (58464), OUTBOX_IMAGE_ORDERS
# (2000), OUTBOX_BUILD_JOBS (compile jobs in the build stage; default all cores),
# OUTBOX_DEBIAN_MIRROR and OUTBOX_DEBIAN_SECURITY_MIRROR (default: the ones this
# machine's apt uses, e.g. http://<mirror>/debian and http://<mirror>/debian-security).
source "$(dirname "$0")/common.sh"

store=${OUTBOX_IMAGE_STORE:-/var/tmp/outbox-image}
tag=${OUTBOX_IMAGE_TAG:-localhost/outbox-relay:dev}
pg_port=${OUTBOX_IMAGE_PG_PORT:-54432}
kafka_port=${OUTBOX_IMAGE_KAFKA_PORT:-58092}
http_port=${OUTBOX_IMAGE_HTTP_PORT:-58464}
orders=${OUTBOX_IMAGE_ORDERS:-2000}
bah=(buildah --storage-driver vfs --root "$store/storage" --runroot "$store/runroot")

need_tools() {
  [[ $(id -u) == 0 ]] || die "run as root: mmdebstrap and buildah's chroot isolation need it"
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  if ((${#missing[@]})); then
    log "installing ${missing[*]} from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  mkdir -p "$store"
}

# apt_uri SUFFIX: the first URI of this machine's apt sources that ends in SUFFIX (deb822 or one-line format).
apt_uri() {
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list) f
  for f in "${files[@]}"; do
    [[ -r $f ]] || continue
    awk -v suffix="$1" '
      /^[[:space:]]*#/ { next }
      /^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ suffix "/?$") { print $i; exit } }
      /^deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { if ($i ~ suffix "/?$") { print $i; exit } break } }
    ' "$f"
  done | head -n 1 | sed 's:/*$::'
}

debian_mirrors() {
  mirror=${OUTBOX_DEBIAN_MIRROR:-$(apt_uri '/debian')}
  security=${OUTBOX_DEBIAN_SECURITY_MIRROR:-$(apt_uri '/debian-security')}
  [[ -n $mirror ]] || die "no Debian mirror in this machine's apt sources; set OUTBOX_DEBIAN_MIRROR=http://<mirror>/debian"
  [[ -n $security ]] || security="${mirror%/debian}/debian-security"
}

have_image() { "${bah[@]}" inspect --type image "$1" >/dev/null 2>&1; }

# base_image NAME [dpkg options...]: a minbase bookworm root filesystem, committed as NAME.
base_image() {
  local name=$1; shift
  if have_image "$name"; then
    log "$name: present"
    return
  fi
  local tar="$store/${name##*:}.tar" conf="$store/apt-conf" mmlog="$store/mmdebstrap-${name##*:}.log"
  log "$name: mmdebstrap bookworm from $mirror"
  # merged-usr the way Debian's own images are (usr-is-merged, not the usrmerge package and its perl).
  mmdebstrap --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "$@" bookworm "$tar" \
    "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main" \
    >"$mmlog" 2>&1 \
    || { tail -n 20 "$mmlog" >&2; die "mmdebstrap failed; see $mmlog"; }
  # The apt settings of Debian's official images (debuerreotype): no package caches
  # or translations kept, so an `apt-get install` layer holds just the packages.
  # Added after mmdebstrap, whose final `apt-get clean` would keep the caches with them.
  mkdir -p "$conf"
  printf '%s\n' 'Apt::AutoRemove::SuggestsImportant "false";' >"$conf/docker-autoremove-suggests"
  printf '%s\n' \
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
    'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' >"$conf/docker-clean"
  printf '%s\n' 'Acquire::GzipIndexes "true";' >"$conf/docker-gzip-indexes"
  printf '%s\n' 'Acquire::Languages "none";' >"$conf/docker-no-languages"
  local ctr
  ctr=$("${bah[@]}" from scratch)
  "${bah[@]}" add "$ctr" "$tar" / >/dev/null
  "${bah[@]}" add --chmod 644 "$ctr" "$conf" /etc/apt/apt.conf.d/ >/dev/null
  "${bah[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash "$ctr"
  "${bah[@]}" commit --quiet --rm "$ctr" "$name" >/dev/null
  rm -f "$tar"
}

base() {
  debian_mirrors
  # Local images under the short names of the FROM lines, which --pull=never resolves to them.
  base_image debian:bookworm
  # -slim as Debian's images make it: no documentation, manuals or translations (copyright files stay).
  local slim=() p
  for p in '/usr/share/doc/*' '/usr/share/groff/*' '/usr/share/info/*' '/usr/share/linda/*' \
    '/usr/share/lintian/overrides/*' '/usr/share/locale/*' '/usr/share/man/*'; do
    slim+=(--dpkgopt="path-exclude=$p")
  done
  slim+=(--dpkgopt='path-include=/usr/share/doc/*/copyright')
  base_image debian:bookworm-slim "${slim[@]}"
}

build() {
  have_image debian:bookworm-slim || die "no base images; run: $0 base"
  local commit
  commit=$(git -C "$OUTBOX_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo "")
  log "buildah bud $tag (commit ${commit:-unknown}; compile output in $store/build.log)"
  local start=$SECONDS
  "${bah[@]}" bud --isolation chroot --pull=never --layers=false \
    --build-arg OUTBOX_GIT_COMMIT="$commit" ${OUTBOX_BUILD_JOBS:+--build-arg OUTBOX_BUILD_JOBS="$OUTBOX_BUILD_JOBS"} \
    -t "$tag" -f "$OUTBOX_ROOT/Dockerfile" "$OUTBOX_ROOT" >"$store/build.log" 2>&1 \
    || { tail -n 30 "$store/build.log" >&2; die "buildah bud failed; see $store/build.log"; }
  log "built $tag in $((SECONDS - start)) s"
}

# descendant_named PID NAME: the pid of NAME among PID's descendants (buildah run's child chain).
descendant_named() {
  local pid=$1 name=$2 child found
  for child in $(ps -o pid= --ppid "$pid"); do
    if [[ $(cat "/proc/$child/comm" 2>/dev/null) == "$name" ]]; then
      echo "$child"
      return 0
    fi
    found=$(descendant_named "$child" "$name") && { echo "$found"; return 0; }
  done
  return 1
}

run_containers=() relay_runner=""
run_cleanup() {
  [[ -n $relay_runner ]] && kill -KILL "$relay_runner" 2>/dev/null || true
  local c
  for c in "${run_containers[@]}"; do "${bah[@]}" rm "$c" >/dev/null 2>&1 || true; done
  "$OUTBOX_ROOT/scripts/kafka.sh" stop "$kafka_port" >/dev/null 2>&1 || true
  "$OUTBOX_ROOT/scripts/pg.sh" stop "$pg_port" >/dev/null 2>&1 || true
}

run() {
  have_image "$tag" || die "no image $tag; run: $0 build"
  trap run_cleanup EXIT
  local dir="$store/run"
  rm -rf "$dir" && mkdir -p "$dir"
  local dsn brokers
  dsn=$("$OUTBOX_ROOT/scripts/pg.sh" start "$pg_port")
  brokers=$("$OUTBOX_ROOT/scripts/kafka.sh" start "$kafka_port")
  cat >"$dir/relay.toml" <<TOML
[postgres]
dsn = "$dsn"
[outbox]
cleanup = "mark"
[kafka]
brokers = "$brokers"
[log]
progress_interval_s = 5
[http]
listen = "127.0.0.1:$http_port"
TOML
  chmod 644 "$dir/relay.toml"
  # chroot isolation shares the host's network, so the loopback servers are reachable.
  local relay_ctr tools_ctr
  relay_ctr=$("${bah[@]}" from --name outbox-image-relay "$tag"); run_containers+=("$relay_ctr")
  tools_ctr=$("${bah[@]}" from --name outbox-image-tools "$tag"); run_containers+=("$tools_ctr")
  local mount=(-v "$dir/relay.toml:/etc/outbox-relay/relay.toml:ro")
  in_image() { local c=$1; shift; "${bah[@]}" run --isolation chroot "${mount[@]}" "$c" -- "$@"; }

  in_image "$tools_ctr" outbox-relay migrate
  in_image "$relay_ctr" outbox-relay run 2>"$dir/relay.log" &
  relay_runner=$!
  wait_until 60 curl -fs -o /dev/null "http://127.0.0.1:$http_port/readyz" \
    || die "the relay from the image did not become ready; see $dir/relay.log"
  local relay_pid
  relay_pid=$(descendant_named "$relay_runner" outbox-relay) || die "cannot find the relay's process"
  log "relay from the image ready (pid $relay_pid, user $(ps -o user= -p "$relay_pid"))"

  local start=$SECONDS
  in_image "$tools_ctr" order-service --dsn "$dsn" --orders "$orders" --connections 4 --updates-per-order 2
  local events=$((orders * 3))
  unpublished() { psql -Atq "$dsn" -c "SELECT count(*) FROM outbox.outbox WHERE published_at IS NULL"; }
  wait_until 300 bash -c "[[ \$(psql -Atq '$dsn' -c 'SELECT count(*) FROM outbox.outbox WHERE published_at IS NULL') == 0 ]]" \
    || die "not everything was published within 300 s ($(unpublished) left); see $dir/relay.log"
  log "$events events written and published in $((SECONDS - start)) s"
  curl -fsS "http://127.0.0.1:$http_port/metrics" >"$dir/metrics.txt"
  grep -E '^(outbox_relay_events_published_total|outbox_relay_build_info|outbox_relay_active|outbox_relay_ready|process_resident_memory_bytes|process_open_fds) ' \
    "$dir/metrics.txt" | sed 's/^/  /' >&2 || true
  grep -E '^outbox_relay_(events_published_total|build_info|active)\{' "$dir/metrics.txt" | sed 's/^/  /' >&2 || true

  kill -TERM "$relay_pid"
  local rc=0
  wait "$relay_runner" || rc=$?
  relay_runner=""
  ((rc == 0)) || die "the relay did not exit 0 after SIGTERM (buildah run: $rc); see $dir/relay.log"
  grep -E "stopped" "$dir/relay.log" | tail -n 1 >&2
  in_image "$tools_ctr" outbox-relay check || die "outbox-relay check found a problem"
  log "run from the image: ok"
  run_cleanup
  run_containers=()
  trap - EXIT
}

# layer_sizes KIND PATH: the image's layer sizes in bytes, base first, one per line, from a
# docker-archive (uncompressed layer tars) or an OCI layout (gzip-compressed layers).
layer_sizes() {
  python3 - "$1" "$2" <<'PY'
import json, os, sys, tarfile
kind, path = sys.argv[1:]
if kind == "docker-archive":
    with tarfile.open(path) as t:
        layers = json.load(t.extractfile("manifest.json"))[0]["Layers"]
        for name in layers:
            print(t.getmember(name).size)
else:
    blob = lambda d: os.path.join(path, "blobs", *d.split(":"))
    index = json.load(open(os.path.join(path, "index.json")))
    for layer in json.load(open(blob(index["manifests"][0]["digest"])))["layers"]:
        print(layer["size"])
PY
}

size() {
  have_image "$tag" || die "no image $tag; run: $0 build"
  local dir="$store/size"
  rm -rf "$dir" && mkdir -p "$dir"
  "${bah[@]}" push --quiet "$tag" "docker-archive:$dir/image.tar" >/dev/null
  "${bah[@]}" push --quiet "$tag" "oci:$dir/oci" >/dev/null
  local plain gzip
  plain=$(layer_sizes docker-archive "$dir/image.tar" | paste -sd' ')
  gzip=$(layer_sizes oci "$dir/oci" | paste -sd' ')
  rm -rf "$dir"
  # Layer 1 is debian:bookworm-slim; the Dockerfile's runtime stage adds one (libraries, user, binaries).
  awk -v t="$tag" -v p="$plain" -v g="$gzip" 'BEGIN {
    n = split(p, P, " "); split(g, G, " "); tp = 0; tg = 0
    for (i = 1; i <= n; i++) { tp += P[i]; tg += G[i] }
    printf "image %s: %.1f MB uncompressed (%d bytes: debian:bookworm-slim %.1f MB + %.1f MB), ", t, tp / 1e6, tp, P[1] / 1e6, (tp - P[1]) / 1e6
    printf "%.1f MB compressed (gzip layers, what a registry stores and a node pulls)\n", tg / 1e6 }'
}

clean() {
  [[ -d $store/storage ]] && "${bah[@]}" rm --all >/dev/null 2>&1 || true
  [[ -d $store/storage ]] && "${bah[@]}" rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$store"
  log "removed $store"
}

cmd=${1:-all}
case $cmd in
  all) need_tools; base; build; run; size ;;
  base) need_tools; base ;;
  build) need_tools; build ;;
  run) need_tools; run ;;
  size) need_tools; size ;;
  clean) clean ;;
  -h|--help) sed -n '2,27p' "$0" ;;
  *) die "unknown command '$cmd'; see --help" ;;
esac
