#!/usr/bin/env bash
# Loads the machine with N CPU-bound processes (default 2), to check that the suite holds up on a
# busy machine (issue 18: `npm test` must pass 3 times in a row under this load).
#
#   bash scripts/cpu-load.sh start [N]   # starts N busy loops (nice 0), pids in .tmp/cpu-load.pids
#   bash scripts/cpu-load.sh status      # the pids still running
#   bash scripts/cpu-load.sh stop        # stops exactly the processes it started
#   bash scripts/cpu-load.sh run CMD…    # start, run CMD, stop (even when CMD fails); CMD's status
set -euo pipefail
cd "$(dirname "$0")/.."
pids=.tmp/cpu-load.pids

start() {
  mkdir -p .tmp
  if [ -s "$pids" ]; then echo "already running: $(tr '\n' ' ' <"$pids")" >&2; exit 1; fi
  for _ in $(seq "${1:-2}"); do
    node -e 'for (;;) {}' &
    echo $! >>"$pids"
  done
  echo "cpu load: $(tr '\n' ' ' <"$pids")"
}

stop() {
  [ -f "$pids" ] || return 0
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$pids"
  rm -f "$pids"
}

case "${1:-}" in
  start) start "${2:-2}" ;;
  stop) stop ;;
  status) [ -f "$pids" ] && while read -r pid; do kill -0 "$pid" 2>/dev/null && echo "$pid"; done <"$pids" || true ;;
  run)
    shift
    start 2
    trap stop EXIT
    "$@"
    ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
