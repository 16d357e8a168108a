#!/usr/bin/env bash
# Start a one-node Slurm cluster whose every file lives in STATE_DIR: munged, MariaDB, slurmdbd,
# slurmctld and slurmd, all on 127.0.0.1, as the tests and bench/bench_sweep.py need it. Each
# daemon's PID goes to STATE_DIR/pids; scripts/slurm/stop.sh STATE_DIR stops exactly those.
#
#   sudo bash scripts/slurm/install.sh                 # once: Debian's packages
#   sudo bash scripts/slurm/start.sh /tmp/mhc-slurm
#   export SLURM_CONF=/tmp/mhc-slurm/slurm.conf        # sbatch, squeue, sacct and submitit use it
#
# Ports: MHC_SLURM_PORT (default 16817) for slurmctld, the next three for slurmd, slurmdbd and
# MariaDB. MHC_SLURM_GPUS stand-in GPUs (default 4). Needs root, as the daemons switch users.
set -euo pipefail

STATE=${1:?usage: start.sh STATE_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
BASE=${MHC_SLURM_PORT:-16817}
CTLD_PORT=$BASE SLURMD_PORT=$((BASE + 1)) DBD_PORT=$((BASE + 2)) DB_PORT=$((BASE + 3))
GPUS=${MHC_SLURM_GPUS:-4}
HOST=$(hostname -s)

fail() { echo "start.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root: the daemons switch to the munge and mysql users"
for tool in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sinfo sacct; do
  command -v "$tool" >/dev/null || fail "$tool is missing; run: sudo bash scripts/slurm/install.sh"
done
if [ -s "$STATE/pids" ]; then
  fail "$STATE/pids exists: a cluster may still run there; stop it first: bash scripts/slurm/stop.sh $STATE"
fi

# munged and mariadbd run as their own users and check the permissions of every parent folder
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
chmod 755 "$STATE"
mkdir -p "$STATE"/{log,slurmctld,slurmd,dev,munge,mysql}
chown munge:munge "$STATE/munge" && chmod 755 "$STATE/munge"
chown mysql:mysql "$STATE/mysql"
for ((i = 0; i < GPUS; i++)); do
  [ -e "$STATE/dev/gpu$i" ] || mknod "$STATE/dev/gpu$i" c 1 3
done

render() {
  sed -e "s|@STATE@|$STATE|g" -e "s|@HOST@|$HOST|g" -e "s|@CTLD_PORT@|$CTLD_PORT|g" \
      -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" -e "s|@DBD_PORT@|$DBD_PORT|g" -e "s|@DB_PORT@|$DB_PORT|g" \
      -e "s|@CPUS@|$(nproc)|g" -e "s|@GPUS@|$GPUS|g" -e "s|@LAST_GPU@|$((GPUS - 1))|g" \
      -e "s|@MEMORY_MB@|$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)|g" \
      "$HERE/$1.in" > "$STATE/$1"
}
render slurm.conf
render gres.conf
render slurmdbd.conf
chmod 600 "$STATE/slurmdbd.conf"  # slurmdbd refuses a config others can read
# slurmdbd reads slurmdbd.conf from the folder of SLURM_CONF
export SLURM_CONF=$STATE/slurm.conf

# a failed start leaves nothing running
trap 'status=$?; [ "$status" = 0 ] || bash "$HERE/stop.sh" "$STATE" >&2' EXIT

# name pid, one line per daemon, in start order (stop.sh stops them in reverse)
started() { echo "$1 $2" >> "$STATE/pids"; }
alive() {  # alive PID: running, not an unreaped zombie
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$(cut -d' ' -f2 <<< "${stat##*)}")" != Z ]
}
wait_for() {  # wait_for NAME LOG COMMAND...: poll COMMAND for up to 30 s while NAME's daemon lives
  local name=$1 log=$2 pid
  pid=$(awk -v n="$name" '$1 == n {print $2}' "$STATE/pids")
  shift 2
  for _ in $(seq 300); do
    "$@" >/dev/null 2>&1 && return 0
    alive "$pid" || break
    sleep 0.1
  done
  echo "start.sh: $name did not come up; last lines of $log and $STATE/log/$name.out:" >&2
  tail -n 20 "$log" "$STATE/log/$name.out" >&2 || true
  exit 1
}

setpriv --reuid=munge --regid=munge --init-groups \
  munged --foreground --socket="$STATE/munge/munge.socket" --pid-file="$STATE/munge/munged.pid" \
  --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munged.seed" \
  > "$STATE/log/munged.out" 2>&1 < /dev/null &
started munged $!
wait_for munged "$STATE/munge/munged.log" test -S "$STATE/munge/munge.socket"

if [ ! -d "$STATE/mysql/mysql" ]; then
  mariadb-install-db --user=mysql --datadir="$STATE/mysql" --skip-test-db \
    > "$STATE/log/mariadb-install.log" 2>&1 || fail "mariadb-install-db failed; see $STATE/log/mariadb-install.log"
fi
# no grant tables: the database is reachable only on loopback and holds only test accounting
mariadbd --user=mysql --datadir="$STATE/mysql" --socket="$STATE/mysql/mysqld.sock" \
  --pid-file="$STATE/mysql/mysqld.pid" --bind-address=127.0.0.1 --port="$DB_PORT" \
  --skip-grant-tables --log-error="$STATE/log/mariadb.log" --innodb-buffer-pool-size=64M \
  > "$STATE/log/mariadb.out" 2>&1 < /dev/null &
started mariadbd $!
wait_for mariadbd "$STATE/log/mariadb.log" test -S "$STATE/mysql/mysqld.sock"

slurmdbd -D > "$STATE/log/slurmdbd.out" 2>&1 < /dev/null &
started slurmdbd $!
wait_for slurmdbd "$STATE/log/slurmdbd.log" grep -q "slurmdbd version .* started" "$STATE/log/slurmdbd.log"

slurmctld -D -i -f "$STATE/slurm.conf" > "$STATE/log/slurmctld.out" 2>&1 < /dev/null &
started slurmctld $!
wait_for slurmctld "$STATE/log/slurmctld.log" scontrol ping

slurmd -D -N "$HOST" -f "$STATE/slurm.conf" > "$STATE/log/slurmd.out" 2>&1 < /dev/null &
started slurmd $!
node_idle() { [ "$(sinfo -h -N -o %T)" = idle ]; }
wait_for slurmd "$STATE/log/slurmd.log" node_idle
# submitit asks sacct for job states: the cluster must be registered with slurmdbd first
wait_for slurmctld "$STATE/log/slurmctld.log" sacct -n -X -S now

echo "Slurm cluster up in $STATE (partition h100, $(nproc) CPUs, $GPUS stand-in GPUs)."
echo "export SLURM_CONF=$SLURM_CONF"
