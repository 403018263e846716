SHELL := /bin/bash
# BottleneckPipeline: files -> index -> cache -> head -> report.
#
# The stages are built once in Release and run as plain executables (no stage run rebuilds).
# Every stage records a hash of its inputs (its config sections and its upstream artifact) in its
# own output and returns at once when they have not changed, so `make` redoes exactly what is
# out of date, whether a file, a config section or the dataset changed.
CONFIG ?= pipeline.yaml
DOTNET ?= dotnet
BIN := .artifacts/bin
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

SOURCES := $(shell find shared stages bench -name '*.cs' -o -name '*.csproj' 2>/dev/null | grep -v '/obj/') Directory.Build.props Directory.Packages.props
BUILT := .artifacts/.built
stage = $(BIN)/$(1)/release/$(1) --config $(CONFIG)

.PHONY: all build ingest extract train-head evaluate test test-faults test-cluster slurm bench clean distclean
all: evaluate

$(BUILT): $(SOURCES)
	$(DOTNET) build BottleneckPipeline.sln -c Release --nologo -v quiet -clp:NoSummary
	@touch $@

build: $(BUILT)

ingest: $(BUILT)
	$(call stage,Ingest)

extract: ingest
	$(call stage,Extract)

train-head: extract
	$(call stage,TrainHead)

evaluate: train-head
	$(call stage,Evaluate)

# The tests print a closing 'N passed, N failed, N skipped' line that CI reads.
test:
	@mkdir -p .artifacts
	set -o pipefail; $(DOTNET) test BottleneckPipeline.sln -c Release --nologo --filter "Category!=Cluster" --logger "console;verbosity=normal" 2>&1 | tee .artifacts/test.log; status=$$?; \
	  awk '/^ +Passed: [0-9]+$$/ {p+=$$2} /^ +Failed: [0-9]+$$/ {f+=$$2} /^ +Skipped: [0-9]+$$/ {s+=$$2} END {printf "%d passed, %d failed, %d skipped\n", p, f, s}' .artifacts/test.log; exit $$status

# The fault suite alone (it is also part of `make test`): real kill -9, full disks (tmpfs, needs
# root), corrupt files, changed datasets and competing runs, through the built stage executables.
test-faults:
	$(DOTNET) test tests/BottleneckPipeline.Tests -c Release --nologo --filter Category=Faults --logger "console;verbosity=normal"

# The Cluster tests (left out of `make test`): a private single-node Slurm cluster on this machine,
# set up and torn down by the script (needs root; installs slurm-wlm and munge when missing).
test-cluster: $(BUILT)
	deploy/slurm/test-cluster.sh

# The pipeline on a Slurm cluster: Ingest, then Extract as an array of SHARDS tasks, then the
# finishing Extract, TrainHead and Evaluate, chained by the scheduler (deploy/slurm/). WAIT=1 waits
# for the chain and fails if any job did.
SHARDS ?= 4
WAIT ?= 0
slurm: $(BUILT)
	deploy/slurm/submit.sh $(CONFIG) $(SHARDS) $(WAIT)

bench: $(BUILT)
	$(BIN)/Bench/release/Bench $(CURDIR) $(BENCH)

# clean empties the workspace of $(CONFIG) but keeps the bottleneck cache (and any entry holding
# it): the cache is expensive to rebuild and keyed by content, never stale.
clean: $(BUILT)
	@paths=$$($(BIN)/Ingest/release/Ingest --config $(CONFIG) --print-workspace) || exit $$?; \
	ws=$$(sed -n 1p <<<"$$paths"); cache=$$(sed -n 2p <<<"$$paths"); \
	shopt -s nullglob dotglob; for e in "$$ws"/*; do \
	  case "$$cache/" in "$$e/"*) ;; *) rm -rf -- "$$e" ;; esac; \
	done; echo "cleaned $$ws (kept $$cache)"

distclean:
	rm -rf workspace .artifacts bench/out
