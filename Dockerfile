# syntax=docker/dockerfile:1
# outbox-relay (ENTRYPOINT) and the example order-service, in one image.
#
#   docker build -t outbox-relay .
#   docker run --rm -v "$PWD/relay.toml:/etc/outbox-relay/relay.toml:ro" outbox-relay migrate
#   docker run --rm -v "$PWD/relay.toml:/etc/outbox-relay/relay.toml:ro" -p 9464:9464 outbox-relay run
#
# The configuration is read from /etc/outbox-relay/relay.toml (the working
# directory, so the default `-c relay.toml` finds it); mount it read-only.
# OUTBOX_PG_DSN, OUTBOX_KAFKA_BROKERS and OUTBOX_KAFKA_SASL_PASSWORD override it.

# ---- build: Debian bookworm with the build packages of scripts/deps.sh ----
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libpqxx-dev libpq-dev librdkafka-dev libspdlog-dev libfmt-dev libtomlplusplus-dev \
      libcli11-dev nlohmann-json3-dev libcpp-httplib-dev uuid-dev libjemalloc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The context has no .git: pass the commit for outbox_relay_build_info
# (--build-arg OUTBOX_GIT_COMMIT=$(git rev-parse --short=12 HEAD)); empty = "unknown".
ARG OUTBOX_GIT_COMMIT=
# Compile jobs; empty = ninja's default (all cores).
ARG OUTBOX_BUILD_JOBS=
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DOUTBOX_BUILD_TESTS=OFF \
      -DOUTBOX_GIT_COMMIT="${OUTBOX_GIT_COMMIT}" \
 && cmake --build /build --target outbox-relay order-service ${OUTBOX_BUILD_JOBS:+-j "$OUTBOX_BUILD_JOBS"} \
 && install -D -s /build/relay/outbox-relay /out/outbox-relay \
 && install -D -s /build/examples/order_service/order-service /out/order-service

# ---- runtime: the shared libraries only ----
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpqxx-6.4 libpq5 librdkafka1 libspdlog1.10 libfmt9 libtomlplusplus3 libcpp-httplib0.11 libjemalloc2 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --shell /usr/sbin/nologin outbox \
 && mkdir -p /etc/outbox-relay
COPY --from=build /out/ /usr/local/bin/
WORKDIR /etc/outbox-relay
USER outbox
EXPOSE 9464
# SIGTERM drains in-flight events (shutdown.drain_timeout_ms) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["outbox-relay"]
CMD ["run"]
