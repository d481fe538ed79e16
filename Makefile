# The habits: make fmt lint test bench.
GO      ?= go
FUZZTIME ?= 10s
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

fuzz:
	$(GO) test ./schemas -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME)
	$(GO) test ./schemas -run '^$$' -fuzz '^FuzzFastAgreesWithValidator$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pipelines -run '^$$' -fuzz '^FuzzInterpolate$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pipelines -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/pii -run '^$$' -fuzz '^FuzzNormalizeID$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/pii -run '^$$' -fuzz '^FuzzNormalizeMobile$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/pii -run '^$$' -fuzz '^FuzzScrubText$$' -fuzztime $(FUZZTIME)
	$(GO) test ./queries -run '^$$' -fuzz '^FuzzQueryHeader$$' -fuzztime $(FUZZTIME)
	$(GO) test ./connectors/filedrop -run '^$$' -fuzz '^FuzzDecodeRow$$' -fuzztime $(FUZZTIME)
	$(GO) test ./connectors/filedrop -run '^$$' -fuzz '^FuzzCSV$$' -fuzztime $(FUZZTIME)
	$(GO) test ./connectors/sqldb -run '^$$' -fuzz '^FuzzCursor$$' -fuzztime $(FUZZTIME)
	$(GO) test ./connectors/httpapi -run '^$$' -fuzz '^FuzzParseCursor$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/calendar -run '^$$' -fuzz '^FuzzLoadCalendar$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/calendar -run '^$$' -fuzz '^FuzzWorkingHours$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/simulate -run '^$$' -fuzz '^FuzzCursorQuery$$' -fuzztime $(FUZZTIME)

fmt:
	gofmt -w $$(git ls-files '*.go')

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

bench: build
	bin/yiwang bench
