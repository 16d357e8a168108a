#!/usr/bin/env bash
# Install what the one-node test cluster needs from Debian's packages (as root). Safe to re-run:
# nothing is installed when every tool is already there. Services are not started here (no
# systemd needed); scripts/slurm/start.sh starts them in a folder of its own.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (apt-get)" >&2; exit 1; }

missing=0
for tool in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sbatch sacct; do
  command -v "$tool" >/dev/null || missing=1
done
if [ "$missing" = 0 ]; then
  echo "Slurm, munge and MariaDB are installed."
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends slurmctld slurmd slurmdbd slurm-client munge mariadb-server
echo "Installed: $(slurmctld -V), munge $(dpkg-query -W -f '${Version}' munge), $(mariadbd --version | cut -d' ' -f2-4)"
