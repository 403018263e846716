SHELL := /bin/bash
# BottleneckPipeline: files -> index -> cache -> head -> report.
#
# The stages are built once in Release and run as plain executables (no stage run rebuilds).
# Every stage records a hash of its inputs (its config sections and its upstream artifact) in its
# own output and returns at once when they have not changed, so `make` redoes exactly what is
# out of date, whether a file, a config section or the dataset changed.
# This Makefile's own folder, whatever the current directory (make -f): distclean removes only below it.
REPO := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
CONFIG ?= pipeline.yaml
DOTNET ?= dotnet
BIN := .artifacts/bin
# The build configuration's folder the stages run from (the tests that run make pass theirs).
CONFIGURATION ?= release
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

SOURCES := $(shell find shared stages bench -name '*.cs' -o -name '*.csproj' -o -name '*.html' 2>/dev/null | grep -v -e '/obj/' -e '^bench/out/') Directory.Build.props Directory.Packages.props
BUILT := .artifacts/.built
stage = $(BIN)/$(1)/$(CONFIGURATION)/$(1) --config $(CONFIG)

.PHONY: all build ingest extract train-head audit fine-tune evaluate inspect config-reference test test-faults test-cluster slurm bench clean distclean
all: evaluate

$(BUILT): $(SOURCES)
	@echo "building the stages (Release; the first build takes about a minute, later ones only what changed)..."
	$(DOTNET) build BottleneckPipeline.sln -c Release --nologo -v quiet -clp:NoSummary
	@touch $@

build: $(BUILT)

ingest: $(BUILT)
	$(call stage,Ingest)

extract: ingest
	$(call stage,Extract)

train-head: extract
	$(call stage,TrainHead)

# The data doctor: suspected label errors, near-duplicates (leaks, conflicts) and outliers from the cached
# vectors, in reports/dataset_issues.json.
audit: train-head
	$(call stage,Audit)

# FineTune runs here only with fine_tune.enabled: true (otherwise it returns at once, writing nothing).
evaluate: audit
	$(call stage,FineTune) --when-enabled
	$(call stage,Evaluate)

# The optional FineTune stage, whatever fine_tune.enabled says, then Evaluate weighing the fine-tuned
# network against the head alone on validation (the better one ships as model.onnx).
fine-tune: audit
	$(call stage,FineTune)
	$(call stage,Evaluate) --with-fine-tuned

# What the pipeline makes of the configured backbone (bottleneck, input, one photo's vector); no workspace is touched.
inspect: $(BUILT)
	$(BIN)/Extract/release/Extract inspect --config $(CONFIG)

# docs/config-reference.md, generated from the config's definitions (shared/Core/Config/PipelineConfig.cs); a test fails when it is stale.
config-reference: $(BUILT)
	$(BIN)/Ingest/release/Ingest config-reference > docs/config-reference.md.tmp && mv docs/config-reference.md.tmp docs/config-reference.md

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

# clean removes from the workspace of $(CONFIG) exactly the files the stages wrote there (index,
# reports, head, model.onnx, their temporaries), by name, under the workspace lock. It keeps the
# bottleneck cache (costly to rebuild, keyed by content, never stale) and every file it did not write.
clean: $(BUILT)
	$(BIN)/Ingest/release/Ingest clean --config $(CONFIG)

# distclean removes everything built: the repository's own build folders, by absolute path, and
# only beside this project's solution file (never a folder that merely holds a copy of this Makefile).
distclean:
	@test -f '$(REPO)/BottleneckPipeline.sln' || { echo "distclean: $(REPO) is not a BottleneckPipeline checkout; nothing removed" >&2; exit 2; }
	rm -rf -- '$(REPO)/workspace' '$(REPO)/.artifacts' '$(REPO)/bench/out'
