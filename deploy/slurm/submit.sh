#!/usr/bin/env bash
# make slurm CONFIG=FILE SHARDS=N [WAIT=1]: the pipeline as three Slurm jobs, chained by the
# scheduler (no daemon of ours):
#   1. Ingest;
#   2. Extract as an array of N tasks (shard i of N each), afterok on 1;
#   3. the finishing Extract (checks the cache, writes extract.json), TrainHead, Audit (the data
#      doctor) and Evaluate, afterok on 2.
# Every job is --requeue (a node failure reruns it, and it resumes) and --kill-on-invalid-dep, so
# a failed job cancels what depends on it instead of leaving it pending forever.
# The workspace, dataset, cache.dir and this checkout (the built stages) must be on a filesystem
# every node sees. sbatch's own variables (SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_TIMELIMIT...)
# apply; SBATCH_ARGS adds options to every job, SHARD_ARGS to the array's tasks only (e.g.
# --cpus-per-task=8). POLL sets the seconds between checks with WAIT=1 (default 5).
set -euo pipefail

die() { echo "slurm: error: $*" >&2; exit 2; }

[[ $# -ge 2 ]] || die "usage: submit.sh CONFIG SHARDS [WAIT]   (make slurm CONFIG=pipeline.yaml SHARDS=4 WAIT=1)"
config=$1 shards=$2 wait=${3:-0}
[[ -f $config ]] || die "config file $config not found"
[[ $shards =~ ^[1-9][0-9]*$ ]] || die "SHARDS=$shards is not a positive whole number of shards"
command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm login node (or install slurm-client)"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=$repo/.artifacts/bin
[[ -x $bin/Ingest/release/Ingest ]] || die "the stages are not built: run 'make build' first (make slurm does)"
config=$(realpath "$config")

paths=$("$bin/Ingest/release/Ingest" workspace --config "$config") || exit $?
workspace=$(sed -n 1p <<<"$paths")
logs=$workspace/slurm
mkdir -p "$logs"

read -r -a extra <<<"${SBATCH_ARGS:-}"
read -r -a shard_extra <<<"${SHARD_ARGS:-}"
common=(--parsable --requeue --open-mode=append --chdir="$repo" "${extra[@]}")
submit() { local id; id=$(sbatch "$@") || exit $?; echo "${id%%;*}"; }

ingest=$(submit "${common[@]}" --job-name=bp-ingest --output="$logs/ingest-%j.out" \
  "$here/stage.sbatch" "$bin" "$config" Ingest)
extract=$(submit "${common[@]}" "${shard_extra[@]}" --job-name=bp-extract --array="0-$((shards - 1))" \
  --dependency="afterok:$ingest" --kill-on-invalid-dep=yes --output="$logs/extract-%A_%a.out" \
  "$here/extract-shard.sbatch" "$bin" "$config" "$shards")
finish=$(submit "${common[@]}" --job-name=bp-finish --dependency="afterok:$extract" --kill-on-invalid-dep=yes \
  --output="$logs/finish-%j.out" "$here/stage.sbatch" "$bin" "$config" Extract TrainHead Audit Evaluate)

echo "slurm: submitted ingest $ingest, extract ${extract}_[0-$((shards - 1))], finish $finish (extract + train-head + audit + evaluate)"
echo "slurm: watch with: squeue -j $ingest,$extract,$finish   logs: $logs/"
echo "slurm: a failed shard: fix, then run make slurm again (finished shards return at once)"
[[ $wait == 1 ]] || exit 0

# The finishing job ends COMPLETED only if everything before it did: its state is the chain's.
state_of() {
  local line
  if line=$(scontrol -o show job "$1" 2>/dev/null); then
    local state=${line#*JobState=} reason=${line#*Reason=}
    echo "${state%% *} ${reason%% *}"
  elif command -v sacct >/dev/null && line=$(sacct -n -X -P -j "$1" -o State 2>/dev/null | head -1) && [[ -n $line ]]; then
    echo "${line%% *} -"
  else
    echo "UNKNOWN -"
  fi
}
while true; do
  read -r state reason <<<"$(state_of "$finish")"
  case $state in
    PENDING)
      # Without --kill-on-invalid-dep support a broken chain would wait here forever.
      [[ $reason == DependencyNeverSatisfied ]] && { scancel "$finish" 2>/dev/null || true; state=CANCELLED; break; } ;;
    RUNNING|CONFIGURING|COMPLETING|REQUEUED|REQUEUE_HOLD|REQUEUE_FED|RESIZING|SUSPENDED|STAGE_OUT|SIGNALING) ;;
    *) break ;;
  esac
  sleep "${POLL:-5}"
done
if [[ $state == COMPLETED ]]; then
  echo "slurm: done: ingest, $shards shard(s) and finish completed; report in $workspace/reports/evaluation.md"
  exit 0
fi
echo "slurm: error: the chain did not complete (finish job $finish: $state). Job states:" >&2
for job in "$ingest" "$extract" "$finish"; do
  scontrol -o show job "$job" 2>/dev/null | sed -E 's/^JobId=([^ ]+).*JobName=([^ ]+).*JobState=([^ ]+).*Reason=([^ ]+).*ExitCode=([^ ]+).*/  \1 \2 \3 (\4, exit \5)/' >&2 || true
done
echo "slurm: logs in $logs/; fix the cause and run make slurm again: finished work is kept." >&2
exit 1
