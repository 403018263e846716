SHELL := /bin/bash
# BottleneckPipeline: files -> index -> cache -> head -> report.
# Each stage is built once in Release and run as a plain executable. Every stage records the hash of
# its inputs (config sections and upstream artifacts) in its output and returns at once when they
# have not changed, so `make` redoes exactly what is out of date.
CONFIG ?= pipeline.yaml
DOTNET ?= dotnet
BIN := .artifacts/bin
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

SOURCES := $(shell find shared stages -name '*.cs' -o -name '*.csproj' 2>/dev/null | grep -v '/obj/') Directory.Build.props Directory.Packages.props
STAGES := Ingest Extract
BUILT := .artifacts/.built

.PHONY: all build ingest extract test bench clean distclean
all: extract

$(BUILT): $(SOURCES)
	$(DOTNET) build BottleneckPipeline.sln -c Release --nologo -v quiet -clp:NoSummary
	@touch $@

build: $(BUILT)

ingest: $(BUILT)
	$(BIN)/Ingest/release/Ingest --config $(CONFIG)

extract: ingest
	$(BIN)/Extract/release/Extract --config $(CONFIG)

test:
	@mkdir -p .artifacts
	$(DOTNET) test BottleneckPipeline.sln -c Release --nologo -v quiet --logger "console;verbosity=normal" 2>&1 | tee .artifacts/test.log; exit $${PIPESTATUS[0]}

clean:
	rm -rf workspace/reports workspace/index.sqlite* workspace/head* workspace/model.onnx

distclean:
	rm -rf workspace .artifacts

bench: $(BUILT)
	$(BIN)/Bench/release/Bench $(CURDIR) $(BENCH)
