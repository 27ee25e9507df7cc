#!/usr/bin/env bash
# ctest ops.Compose.config: validates docker-compose.yml without a Docker engine.
#   tests/ops/compose_check.sh REPO_ROOT OUTBOX_RELAY_BINARY
# 1. The Compose implementation's own validation, `config -q`: Docker's
#    `docker compose` plugin when present, else Debian's `docker-compose`
#    (scripts/deps.sh installs it; Debian has no compose plugin). Neither: FAIL.
# 2. What the project relies on, with python3 + python3-yaml: the services,
#    the migrate-before-run order, wal_level=logical, the mounted files exist,
#    the Dockerfile is multi-stage with scripts/deps.sh's packages, ports agree.
# 3. The mounted relay configuration passes `outbox-relay check-config` with
#    the environment the compose file gives the relay.
# 4. The YAML and TOML examples of docs/operations.md parse, and the
#    Kubernetes ConfigMap's relay.toml passes check-config (with the pod's
#    Secrets as environment and a CA file at the mounted path).
set -euo pipefail
root=${1:?usage: compose_check.sh REPO_ROOT OUTBOX_RELAY_BINARY}
relay=${2:?usage: compose_check.sh REPO_ROOT OUTBOX_RELAY_BINARY}
cd "$root"

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "FAIL: cannot validate docker-compose.yml: neither 'docker compose' (Docker's compose plugin) nor" \
    "'docker-compose' (Debian package docker-compose; run scripts/deps.sh as root) is installed" >&2
  exit 1
fi
echo "compose client: ${compose[*]} ($("${compose[@]}" version --short 2>/dev/null || echo "version unknown"))"
"${compose[@]}" -f docker-compose.yml config -q
echo "ok: ${compose[*]} -f docker-compose.yml config -q"

python=/usr/bin/python3
[[ -x $python ]] || python=python3
"$python" - "$relay" <<'PY'
import os, re, ssl, subprocess, sys, tomllib
import yaml

relay_binary = sys.argv[1]
problems = []
def check(ok, what):
    if not ok:
        problems.append(what)

with open("docker-compose.yml") as f:
    doc = yaml.safe_load(f)
services = doc.get("services", {})
for name in ("postgres", "kafka", "migrate", "relay", "order-service"):
    check(name in services, f"service '{name}' is missing")
if problems:
    sys.exit("FAIL: " + "; ".join(problems))

pg, kafka, migrate, relay, orders = (services[n] for n in ("postgres", "kafka", "migrate", "relay", "order-service"))
check(str(pg.get("image", "")).startswith("postgres:15"), "postgres: image must be postgres:15")
check("wal_level=logical" in " ".join(pg.get("command", [])), "postgres: command needs -c wal_level=logical")
check(str(kafka.get("image", "")).startswith("apache/kafka:"), "kafka: image must be apache/kafka")
roles = str(kafka.get("environment", {}).get("KAFKA_PROCESS_ROLES", ""))
check("broker" in roles and "controller" in roles, "kafka: must be a KRaft broker+controller")

for name in ("migrate", "relay", "order-service"):
    s = services[name]
    check(s.get("build") == ".", f"{name}: must build the repository's Dockerfile (build: .)")
    check(s.get("image") == relay.get("image"), f"{name}: must use the relay's image")
check(migrate.get("command") == ["migrate"], "migrate: command must be [migrate]")
check(relay.get("command") == ["run"], "relay: command must be [run]")
dep = relay.get("depends_on", {})
check(dep.get("migrate", {}).get("condition") == "service_completed_successfully",
      "relay: must start after migrate completed successfully")
check(dep.get("kafka", {}).get("condition") == "service_healthy", "relay: must wait for a healthy kafka")
check(migrate.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy",
      "migrate: must wait for a healthy postgres")
check(orders.get("entrypoint") == ["order-service"], "order-service: entrypoint must be order-service")

for name, s in services.items():
    for v in s.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("."):
            check(os.path.isfile(src), f"{name}: mounted file {src} does not exist")
    for p in s.get("ports", []):
        check(str(p).startswith("127.0.0.1:"), f"{name}: port {p} should be published on 127.0.0.1 only")

# The relay's HTTP port: config, published port and healthcheck agree.
mount = next(v for v in relay.get("volumes", []) if v.endswith("/etc/outbox-relay/relay.toml:ro"))
with open(mount.split(":")[0], "rb") as f:
    listen = tomllib.load(f).get("http", {}).get("listen", "")
port = listen.rsplit(":", 1)[-1]
check(listen.startswith("0.0.0.0:"), "docker/relay.toml: http.listen must listen on 0.0.0.0 in a container")
check(any(str(p).endswith(":" + port) for p in relay.get("ports", [])), f"relay: port {port} is not published")
check(f"/dev/tcp/127.0.0.1/{port}" in " ".join(relay.get("healthcheck", {}).get("test", [])) and "/readyz" in
      " ".join(relay.get("healthcheck", {}).get("test", [])), f"relay: healthcheck must ask /readyz on port {port}")

# Dockerfile: multi-stage, bookworm, ENTRYPOINT outbox-relay, build packages from scripts/deps.sh.
dockerfile = open("Dockerfile").read()
stages = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
check(len(stages) >= 2 and stages[0] == "debian:bookworm" and stages[-1].startswith("debian:bookworm"),
      f"Dockerfile: expected a debian:bookworm build stage and a bookworm runtime stage, got {stages}")
check('ENTRYPOINT ["outbox-relay"]' in dockerfile, "Dockerfile: ENTRYPOINT must be outbox-relay")
deps = open("scripts/deps.sh").read()
deps_packages = set(re.search(r"PACKAGES=\((.*?)\n\)", deps, re.S).group(1).split())
first_stage = dockerfile.split("\nFROM ")[1]
installed = re.search(r"apt-get install[^\n]*\\\n(.*?)\n \&\&", first_stage, re.S).group(1)
build_packages = set(installed.replace("\\", " ").split())
check(build_packages <= deps_packages,
      f"Dockerfile: build packages not in scripts/deps.sh: {sorted(build_packages - deps_packages)}")

env = dict(os.environ, **{k: str(v) for k, v in relay.get("environment", {}).items()})
r = subprocess.run([relay_binary, "-c", mount.split(":")[0], "check-config"], env=env, capture_output=True, text=True)
check(r.returncode == 0, f"docker/relay.toml with the relay's environment: {r.stderr.strip() or r.stdout.strip()}")

# The examples in docs/operations.md parse (YAML: the Kubernetes manifests; TOML: the snippets).
ops_doc = open("docs/operations.md").read()
for lang, body in re.findall(r"```(yaml|toml)\n(.*?)```", ops_doc, re.S):
    try:
        docs = list(yaml.safe_load_all(body)) if lang == "yaml" else [tomllib.loads(body)]
    except Exception as e:
        problems.append(f"docs/operations.md: a {lang} example does not parse: {str(e).splitlines()[0]}")
        continue
    for d in docs:  # a ConfigMap's relay.toml must pass check-config
        if not isinstance(d, dict) or d.get("kind") != "ConfigMap" or "relay.toml" not in (d.get("data") or {}):
            continue
        # check-config builds the Kafka client as run would, so it reads the TLS files and needs
        # the secrets: give it what the pod has (a CA at the mounted path, the Secrets' variables).
        toml_text = d["data"]["relay.toml"]
        ca = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
        toml_text = toml_text.replace("/etc/outbox-relay/tls/ca.crt", ca)
        path = "/tmp/ops_doc_relay_%d.toml" % os.getpid()
        with open(path, "w") as f:
            f.write(toml_text)
        r = subprocess.run([relay_binary, "-c", path, "check-config"], capture_output=True, text=True,
                           env=dict(os.environ, OUTBOX_PG_DSN="host=db.internal",
                                    OUTBOX_KAFKA_SASL_PASSWORD="from-the-secret"))
        os.remove(path)
        check(r.returncode == 0, f"docs/operations.md: the ConfigMap's relay.toml: {r.stderr.strip()}")

if problems:
    sys.exit("FAIL: " + "\n      ".join(problems))
print(f"ok: docs/operations.md examples parse; {len(services)} services, migrate before run, "
      f"mounted config valid, Dockerfile stages {stages}")
PY
