# Helpers for the integration tests that run journeyd scenarios side by
# side (test_faults.sh, test_cluster.sh, test_unkeyed.sh): each scenario
# gets its own Redis prefix, consumer group and topics. Sourced after
# deploy/lib.sh; needs JD_BIN, JD_BROKERS and JD_TMP.

fail() { echo "FAIL: $*" >&2; exit 1; }

# scenario_opts NAME: OPTS = the flags every run of scenario NAME shares
# (its prefix, group, dead-letter and trigger topics, a short session).
scenario_opts() {
  OPTS=(--brokers "$JD_BROKERS" --set "redis.prefix=$1"
        --set "kafka.group.id=$1-$$" --set "topics.dead_letter=$1.dlq"
        --set "topics.risk=$1.risk" --set "topics.renewal_readiness=$1.renewal"
        --set "topics.expansion=$1.expansion" --set "topics.journey_stage=$1.stage"
        --set kafka.session.timeout.ms=6000 --set kafka.heartbeat.interval.ms=500)
}

# run_bg NAME TAG ARGS...: `journeyd run ARGS` in the background, output in
# $JD_TMP/NAME/TAG.out and .log -> RUN_PID.
run_bg() {
  local name="$1" tag="$2"; shift 2
  mkdir -p "$JD_TMP/$name"
  "$JD_BIN" run "$@" >"$JD_TMP/$name/$tag.out" 2>"$JD_TMP/$name/$tag.log" &
  RUN_PID=$!
}

# wait_for LOG PATTERN: until the log shows it (60 s at most).
wait_for() {
  for _ in $(seq 1 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  fail "$1: no '$2' within 60 s"
}

# finish PID LOG: waits for a run, which must exit 0.
finish() {
  local rc=0
  timeout 300 tail --pid="$1" -f /dev/null || fail "$2: still running after 300 s"
  wait "$1" || rc=$?
  [ "$rc" -eq 0 ] || { tail -n 20 "$2"; fail "$2: exit $rc"; }
}

# kill_after_batches LOG PID N: SIGKILL once the run (started with
# --log-level debug) has stored N more batches, so the kill lands midway
# however fast the run is; fails if the run ended first.
kill_after_batches() {
  local log="$1" pid="$2" want="$3" have=0
  for _ in $(seq 1 1200); do
    have=$(grep -c "batch .* done" "$log" 2>/dev/null || true)
    [ "$have" -ge "$want" ] && break
    kill -0 "$pid" 2>/dev/null || fail "$log: the run ended before its kill ($have batches)"
    sleep 0.02
  done
  kill -9 "$pid" 2>/dev/null || fail "$log: the run ended before its kill"
  wait "$pid" 2>/dev/null || true
  echo "killed after $have stored batches"
}

# consumed OUT...: events consumed, summed over the runs' summaries.
consumed() { awk '/^events consumed/ {s += $3} END {print s + 0}' "$@"; }

# rules_tsv PREFIX PORT...: every account's rule states, one line each:
# KEY, then RULE and STATE fields, tab-separated, read from the account
# records by `inspect --all --rule-states "${OPTS[@]}"` (PREFIX and PORT
# name the scenario for the callers; the records are found through OPTS).
rules_tsv() {
  "$JD_BIN" inspect --all --rule-states "${OPTS[@]}"
}
