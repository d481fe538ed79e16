# The habits: make fmt lint test bench.
GO      ?= go
export GOFLAGS ?= -mod=readonly

.PHONY: all build demo test deps fuzz fmt lint bench

all: build

build:
	$(GO) build -o bin/yiwang ./cmd/yiwang

demo:
	$(GO) run ./cmd/yiwang demo

# Everything CI runs: installs what the tests need, then unit, integration
# (embedded broker, DuckDB files, kcat, SIGKILL loops) and brief fuzz runs.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...
	$(MAKE) fuzz

deps:
	@scripts/install-test-deps

# Every fuzz target for a count of executions (scripts/fuzz says why not a
# duration); FUZZ_SCALE=10 fuzzes ten times as long.
fuzz:
	GO=$(GO) scripts/fuzz

fmt:
	gofmt -w $$(git ls-files '*.go')

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

bench: build
	bin/yiwang bench
