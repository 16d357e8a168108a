#!/usr/bin/env bash
# Stop the cluster scripts/slurm/start.sh started in STATE_DIR: cancel its jobs, then stop each
# daemon by the PID recorded in STATE_DIR/pids, newest first. Nothing else is signalled.
#   bash scripts/slurm/stop.sh /tmp/mhc-slurm
set -uo pipefail

STATE=${1:?usage: stop.sh STATE_DIR}
PIDS=$STATE/pids
[ -s "$PIDS" ] || { echo "stop.sh: no cluster recorded in $PIDS; nothing to stop"; exit 0; }
export SLURM_CONF=$STATE/slurm.conf

# running: the PID exists, is not a zombie (exited daemons can linger unreaped here) and still
# runs the program we started, not a process that reused its number
running() {
  local pid=$1 name=$2 stat
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$(cut -d' ' -f2 <<< "${stat##*)}")" != Z ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]
}

if grep -q "^slurmctld " "$PIDS" && running "$(awk '$1 == "slurmctld" {print $2}' "$PIDS")" slurmctld; then
  jobs=$(squeue -h -o %A 2>/dev/null | sort -u)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null
    for _ in $(seq 100); do
      [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
fi

tac "$PIDS" | while read -r name pid; do
  running "$pid" "$name" || continue
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do
    running "$pid" "$name" || break
    sleep 0.1
  done
  if running "$pid" "$name"; then
    echo "stop.sh: $name ($pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
done
rm -f "$PIDS"
echo "Slurm cluster in $STATE stopped."
