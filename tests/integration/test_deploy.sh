#!/usr/bin/env bash
# What can be checked of deploy/ without Docker or a cluster:
#  - docker-compose.yml, the Kubernetes manifests, the ConfigMap's embedded
#    journeyd.yaml and docs/asyncapi.yaml parse (python3-yaml) and say what
#    they must (KRaft without ZooKeeper, probes on /healthz and /readyz, a
#    PodDisruptionBudget, a kcat consumer of every trigger topic);
#  - the configurations shipped for containers and Kubernetes pass
#    `journeyd config check`;
#  - the Dockerfile's JD_RUNTIME_LIBS is exactly the set of Debian packages
#    of the libraries the binary links (readelf NEEDED -> ldd -> dpkg -S,
#    libc6 being in the base image), and the image runs as a non-root user;
#  - every metric the Grafana dashboard queries appears in the /metrics
#    output of a running journeyd;
#  - the systemd unit verifies and its sandbox rates at most 2.0 exposure;
#  - docs/asyncapi.yaml has a channel for every default topic and checks
#    (tests/integration/asyncapi_check.py: AsyncAPI 3.0, every $ref
#    resolves, the Avro schemas it names parse).
# Needs JD_BIN, JD_ROOT, JD_TMP (JD_REDIS_PORT optional).
set -euo pipefail
. "$JD_ROOT/deploy/lib.sh"
PY=/usr/bin/python3
D="$JD_ROOT/deploy"
rm -rf "$JD_TMP"; mkdir -p "$JD_TMP"
trap jd_cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- YAML ---------------------------------------------------------------------------
$PY - "$D" "$JD_TMP" <<'PYEOF' || fail "deploy YAML"
import sys, yaml
d, tmp = sys.argv[1], sys.argv[2]
c = yaml.safe_load(open(d + "/docker-compose.yml"))
s = c["services"]
for name in ("kafka", "redis", "journeyd", "triggers"):
    assert name in s, "compose service %s missing" % name
env = s["kafka"]["environment"]
assert "broker" in env["KAFKA_PROCESS_ROLES"] and "controller" in env["KAFKA_PROCESS_ROLES"], "not KRaft"
assert not any("zookeeper" in k.lower() for k in env), "ZooKeeper in a KRaft setup"
assert s["journeyd"]["build"]["dockerfile"] == "deploy/Dockerfile"
cmd = " ".join(s["triggers"]["command"])
assert "kcat" in s["triggers"]["image"]
for t in ("cs.trigger.risk", "cs.trigger.renewal", "cs.trigger.expansion"):
    assert t in cmd, "kcat does not consume " + t
docs = []
for f in ("configmap.yaml", "deployment.yaml", "pdb.yaml"):
    docs += [x for x in yaml.safe_load_all(open("%s/k8s/%s" % (d, f))) if x]
kinds = {x["kind"]: x for x in docs}
for k in ("ConfigMap", "Deployment", "PodDisruptionBudget", "Service"):
    assert k in kinds, k + " missing"
dep = kinds["Deployment"]
ctr = dep["spec"]["template"]["spec"]["containers"][0]
assert ctr["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert ctr["readinessProbe"]["httpGet"]["path"] == "/readyz"
assert dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
assert dep["spec"]["selector"]["matchLabels"] == kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
assert "sum(journeyd_kafka_consumer_lag)" in open(d + "/k8s/deployment.yaml").read(), "no note on scaling by lag"
port = [p["containerPort"] for p in ctr["ports"]][0]
cm = yaml.safe_load(kinds["ConfigMap"]["data"]["journeyd.yaml"])
assert cm["http"]["port"] == port and cm["http"]["address"] == "0.0.0.0"
open(tmp + "/k8s-journeyd.yaml", "w").write(kinds["ConfigMap"]["data"]["journeyd.yaml"])
print("ok   compose (%d services) and %d Kubernetes objects parse" % (len(s), len(docs)))
PYEOF
for f in "$D/docker/journeyd.yaml" "$JD_TMP/k8s-journeyd.yaml"; do
  "$JD_BIN" config check "$f" >/dev/null || fail "$f does not pass config check"
done

# ---- Dockerfile runtime packages = packages of the linked libraries ------------------
WANT=$(sed -n 's/^ARG JD_RUNTIME_LIBS="\(.*\)"$/\1/p' "$D/Dockerfile" | tr ' ' '\n' | sort)
[ -n "$WANT" ] || fail "no JD_RUNTIME_LIBS in the Dockerfile"
HAVE=$(for so in $(readelf -d "$JD_BIN" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
         dpkg -S "*/$so" 2>/dev/null | grep -v -- '-i386\|lib32' | head -n1 | cut -d: -f1
       done | grep -vx 'libc6' | sort -u)
[ "$WANT" = "$HAVE" ] || fail "Dockerfile JD_RUNTIME_LIBS ($(echo $WANT)) != linked library packages ($(echo $HAVE))"
grep -q '^FROM debian:bookworm-slim' "$D/Dockerfile" || fail "runtime stage is not bookworm-slim"
grep -qE '^USER [0-9]+' "$D/Dockerfile" || fail "the image does not switch to a non-root user"
! grep -A3 '^FROM debian:bookworm-slim' "$D/Dockerfile" | grep -q -- '-dev' || fail "dev packages in the runtime stage"
echo "ok   Dockerfile runtime packages match the linked libraries: $(echo $WANT)"

# ---- dashboard metrics exist in /metrics ---------------------------------------------
[ -n "${JD_REDIS_PORT:-}" ] || jd_start_redis "$JD_TMP/redis"
jd_start_broker "$JD_BIN" "$JD_TMP" --partitions 2
"$JD_BIN" simulate --brokers "$JD_BROKERS" --accounts 10 --days 10 2>/dev/null
printf 'not avro' | kcat -P -b "$JD_BROKERS" -t product-events -k junk   # one dead letter
HPORT=$(jd_free_port)
"$JD_BIN" run --brokers "$JD_BROKERS" --redis "127.0.0.1:$JD_REDIS_PORT" --set "redis.prefix=dep$$" \
  --set "http.port=$HPORT" --set kafka.statistics.interval.ms=500 >/dev/null 2>"$JD_TMP/run.log" &
RUN_PID=$!
JD_PIDS+=("$RUN_PID")
# Scrape until every family has samples (dead letters once acknowledged,
# lag once librdkafka knows the committed offsets).
for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$HPORT/metrics" >"$JD_TMP/metrics" 2>/dev/null \
    && grep -q '^journeyd_dead_letters_total{' "$JD_TMP/metrics" \
    && grep -q '^journeyd_kafka_consumer_lag{' "$JD_TMP/metrics" && break
  sleep 0.2
done
kill -TERM "$RUN_PID"; wait "$RUN_PID" || fail "journeyd run failed: $(tail -n 5 "$JD_TMP/run.log")"
$PY - "$D/grafana/journeyd-dashboard.json" "$JD_TMP/metrics" <<'PYEOF' || fail "dashboard"
import json, re, sys
dash = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
exprs += [v.get("query", "") for v in dash["templating"]["list"] if isinstance(v.get("query"), str)]
used = {re.sub(r"_(bucket|sum|count)$", "", m) for e in exprs for m in re.findall(r"\bjourneyd_[a-z0-9_]+", e)}
text = open(sys.argv[2]).read()
samples = {l.split("{")[0].split(" ")[0] for l in text.splitlines() if l and not l.startswith("#")}
samples = {re.sub(r"_(bucket|sum|count)$", "", s) for s in samples}
missing = sorted(used - samples)
assert not missing, "dashboard metrics not in /metrics: %s" % missing
assert len(used) >= 12, used
print("ok   %d dashboard metrics all present in /metrics with samples" % len(used))
PYEOF

# ---- systemd ------------------------------------------------------------------------------
U="$D/systemd/journeyd.service"
V=$(systemd-analyze verify "$U" 2>&1 | grep -v 'is not executable\|man journeyd(1)\|^$' || true)
[ -z "$V" ] || fail "systemd-analyze verify: $V"
systemd-analyze security --offline=yes --threshold=20 "$U" >"$JD_TMP/security.txt" 2>&1 \
  || { tail -n 3 "$JD_TMP/security.txt"; fail "unit exposure above 2.0"; }
echo "ok   systemd unit: $(grep -o 'Overall exposure level.*' "$JD_TMP/security.txt")"

# ---- AsyncAPI --------------------------------------------------------------------------
"$JD_BIN" config show | sed -n 's/^topics\.\(input\|dead_letter\|risk\|renewal_readiness\|expansion\|journey_stage\): "\(.*\)"$/\2/p' \
  >"$JD_TMP/topics"
$PY - "$JD_ROOT/docs/asyncapi.yaml" "$JD_TMP/topics" <<'PYEOF' || fail "asyncapi"
import sys, yaml
a = yaml.safe_load(open(sys.argv[1]))
addresses = {c["address"] for c in a["channels"].values()}
topics = [t for l in open(sys.argv[2]) for t in l.strip().split(",") if t]
assert len(topics) == 6, topics
for t in topics:
    assert t in addresses, "no channel for topic " + t
print("ok   asyncapi: a channel for each of the %d default topics" % len(topics))
PYEOF
$PY "$JD_ROOT/tests/integration/asyncapi_check.py" "$JD_ROOT/docs/asyncapi.yaml" \
  || fail "docs/asyncapi.yaml does not check"
