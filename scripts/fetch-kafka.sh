#!/usr/bin/env bash
# Fetches the Apache Kafka broker jars named in scripts/kafka/pom.xml with Maven,
# into a cache outside the work tree. Prints the lib directory. Reuses the cache.
source "$(dirname "$0")/common.sh"

POM="$OUTBOX_ROOT/scripts/kafka/pom.xml"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
lib="$OUTBOX_CACHE/kafka-$version/lib"
stamp="$lib/.complete-$(sha256sum "$POM" | cut -c1-16)"

if [[ ! -f $stamp ]]; then
  command -v mvn >/dev/null || die "maven is not installed; run scripts/deps.sh"
  log "fetching Apache Kafka $version jars into $lib"
  rm -rf "$lib"; mkdir -p "$lib"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$lib" >"$OUTBOX_CACHE/mvn-fetch.log" 2>&1 \
    || die "mvn failed to fetch Kafka jars; see $OUTBOX_CACHE/mvn-fetch.log"
  touch "$stamp"
fi
echo "$lib"
