#!/usr/bin/env bash
# A live status line of a running journeyd, from its /metrics endpoint:
#   deploy/status.sh http://127.0.0.1:9464 [PID]
# prints, every second until PID exits (or forever without one):
#   status  1234 events/s | 5210 events | 150 accounts | triggers RISK=3 RENEWAL_READINESS=9 EXPANSION=2 | dead letters 12 | lag 0
set -uo pipefail
URL="${1:?usage: status.sh URL [PID]}"
PID="${2:-}"
prev=""
while [ -z "$PID" ] || kill -0 "$PID" 2>/dev/null; do
  m=$(curl -sf --max-time 2 "$URL/metrics") || { sleep 1; continue; }
  line=$(awk -v prev="$prev" '
    /^journeyd_events_consumed_total/   { ev += $NF }
    /^journeyd_accounts /               { acc = $NF }
    /^journeyd_dead_letters_total/      { dlq += $NF }
    /^journeyd_kafka_consumer_lag/      { lag += $NF }
    /^journeyd_triggers_total/          { match($0, /kind="[A-Z_]+"/); k = substr($0, RSTART + 6, RLENGTH - 7); tr[k] += $NF }
    END {
      rate = prev == "" ? 0 : ev - prev
      s = ""
      for (k in tr) s = s " " k "=" tr[k]
      printf "%d|status %7d events/s | %d events | %d accounts | triggers%s | dead letters %d | lag %d\n",
             ev, rate, ev, acc, s == "" ? " 0" : s, dlq, lag
    }' <<<"$m")
  prev="${line%%|*}"
  echo "${line#*|}"
  sleep 1
done
