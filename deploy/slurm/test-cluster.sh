#!/usr/bin/env bash
# make test-cluster: brings up a private single-node Slurm cluster on this machine, runs the Cluster
# tests through it (the whole pipeline via make slurm's submit.sh, a task killed and requeued or
# resubmitted, overlapping shards), and takes the cluster down again, also on failure.
#
# Everything is private: config, state, spool, logs, munge socket and key in one temp folder, free
# ports, and only the daemons started here (munged as the munge user, slurmctld and slurmd as root)
# are stopped, by the pids they wrote. Needs root; installs Debian's slurm-wlm and munge if missing.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
say() { echo "test-cluster: $*"; }

[[ $(id -u) == 0 ]] || { echo "test-cluster: error: needs root (slurmd runs jobs as root here, munged as the munge user); run it as root, as CI does" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm slurm-client munge >/dev/null
fi

T=$(mktemp -d /tmp/bp-cluster.XXXXXX)
chmod 755 "$T" # munged (user munge) must reach its folder inside
conf=$T/etc/slurm.conf
export SLURM_CONF=$conf

# A free TCP port: not among the listening sockets in /proc/net/tcp{,6}.
free_port() {
  local port hex
  while true; do
    port=$((20000 + RANDOM % 20000))
    printf -v hex '%04X' "$port"
    if ! awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
      [[ $port != "${1:-}" ]] && { echo "$port"; return; }
    fi
  done
}

pid_of() { [[ -s $1 ]] && cat "$1" || true; }

# Stops what this script started, by pid, and nothing else; keeps the daemons' logs for CI.
teardown() {
  local status=$?
  set +e
  if [[ -n $(pid_of "$T/slurmctld.pid") ]]; then
    mapfile -t jobs < <(squeue -h -o %A 2>/dev/null)
    if ((${#jobs[@]})); then
      scancel "${jobs[@]}" 2>/dev/null
      for _ in $(seq 60); do [[ -z $(squeue -h -o %A 2>/dev/null) ]] && break; sleep 0.5; done
    fi
  fi
  local pids=()
  for f in slurmd.pid slurmctld.pid munge/munged.pid; do
    local p; p=$(pid_of "$T/$f")
    [[ -n $p ]] && kill "$p" 2>/dev/null && pids+=("$p")
  done
  for _ in $(seq 50); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.2
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  # Job step daemons our slurmd started (and their jobs) carry our private SLURM_CONF in the
  # environment they were started with: stop any that outlived it. (This script's own environ
  # predates the export, and grep runs without it.)
  while read -r env; do
    local p=${env#/proc/}; p=${p%/environ}
    [[ $p != "$$" ]] && kill -9 "$p" 2>/dev/null
  done < <(env -u SLURM_CONF grep -l -z -x -F "SLURM_CONF=$conf" /proc/[0-9]*/environ 2>/dev/null)
  mkdir -p "$repo/.artifacts/test-cluster"
  cp -r "$T/log/." "$repo/.artifacts/test-cluster/" 2>/dev/null
  rm -rf "$T"
  exit $status
}
trap teardown EXIT
trap 'exit 130' INT TERM

mkdir -p "$T/etc" "$T/state" "$T/spool" "$T/log" "$T/munge"
# A private munge key: the cluster trusts only itself.
head -c 1024 /dev/urandom >"$T/munge/munge.key"
chown -R munge:munge "$T/munge"
chmod 711 "$T/munge"
chmod 400 "$T/munge/munge.key"
runuser -u munge -- munged --socket="$T/munge/munge.sock" --key-file="$T/munge/munge.key" \
  --pid-file="$T/munge/munged.pid" --log-file="$T/munge/munged.log" --seed-file="$T/munge/munged.seed"

node=$(hostname -s)
ctld_port=$(free_port)
slurmd_port=$(free_port "$ctld_port")
# The node as slurmd sees it: this machine's CPUs and memory.
hardware=$(slurmd -C | head -1 | sed -E 's/^NodeName=[^ ]+ //')
cat >"$conf" <<EOF
ClusterName=bptest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also sets how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$T/munge/munge.sock,cred_expire=10
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -f "$conf"
slurmd -f "$conf" -N "$node"
for _ in $(seq 60); do [[ $(sinfo -h -o %T 2>/dev/null) == idle ]] && break; sleep 0.5; done
[[ $(sinfo -h -o %T 2>/dev/null) == idle ]] || { echo "test-cluster: error: the node did not come up idle; logs in .artifacts/test-cluster/" >&2; exit 1; }
say "cluster up: $node ($hardware), slurmctld :$ctld_port, slurmd :$slurmd_port, config $conf"

mkdir -p "$repo/.artifacts"
cd "$repo"
set +e
set -o pipefail
BP_TEST_CLUSTER=1 dotnet test tests/BottleneckPipeline.Tests -c Release --nologo --filter Category=Cluster \
  --logger "console;verbosity=normal" 2>&1 | tee .artifacts/test-cluster.log
status=$?
set -e
line=$(awk '/^ +Passed: [0-9]+$/ {p+=$2} /^ +Failed: [0-9]+$/ {f+=$2} /^ +Skipped: [0-9]+$/ {s+=$2} END {printf "%d passed, %d failed, %d skipped\n", p, f, s}' .artifacts/test-cluster.log)
echo "$line"
# A run that passed nothing (the test host stopped early, the tests skipped) proves nothing: a failure.
if [[ $status == 0 && $line == "0 passed,"* ]]; then
  echo "test-cluster: error: no Cluster test passed; see .artifacts/test-cluster.log" >&2
  status=1
fi
exit $status
