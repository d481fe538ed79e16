# The habits: make fmt lint test bench.
GO      ?= go
FUZZTIME ?= 10s
# Minimising new corpus entries can outlast a brief run and fail it with
# "context deadline exceeded"; CI's short runs skip it (crashers are still
# reported, unminimised).
FUZZFLAGS ?= -fuzztime $(FUZZTIME) -fuzzminimizetime 0
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
	$(GO) test ./schemas -run '^$$' -fuzz '^FuzzDecodeRecord$$' $(FUZZFLAGS)
	$(GO) test ./schemas -run '^$$' -fuzz '^FuzzFastAgreesWithValidator$$' $(FUZZFLAGS)
	$(GO) test ./pipelines -run '^$$' -fuzz '^FuzzInterpolate$$' $(FUZZFLAGS)
	$(GO) test ./pipelines -run '^$$' -fuzz '^FuzzParseConfig$$' $(FUZZFLAGS)
	$(GO) test ./internal/pii -run '^$$' -fuzz '^FuzzNormalizeID$$' $(FUZZFLAGS)
	$(GO) test ./internal/pii -run '^$$' -fuzz '^FuzzNormalizeMobile$$' $(FUZZFLAGS)
	$(GO) test ./internal/pii -run '^$$' -fuzz '^FuzzScrubText$$' $(FUZZFLAGS)
	$(GO) test ./queries -run '^$$' -fuzz '^FuzzQueryHeader$$' $(FUZZFLAGS)
	$(GO) test ./connectors/filedrop -run '^$$' -fuzz '^FuzzDecodeRow$$' $(FUZZFLAGS)
	$(GO) test ./connectors/filedrop -run '^$$' -fuzz '^FuzzCSV$$' $(FUZZFLAGS)
	$(GO) test ./connectors/filedrop -run '^$$' -fuzz '^FuzzLimits$$' $(FUZZFLAGS)
	$(GO) test ./connectors/sqldb -run '^$$' -fuzz '^FuzzCursor$$' $(FUZZFLAGS)
	$(GO) test ./connectors/httpapi -run '^$$' -fuzz '^FuzzParseCursor$$' $(FUZZFLAGS)
	$(GO) test ./internal/calendar -run '^$$' -fuzz '^FuzzLoadCalendar$$' $(FUZZFLAGS)
	$(GO) test ./internal/calendar -run '^$$' -fuzz '^FuzzWorkingHours$$' $(FUZZFLAGS)
	$(GO) test ./internal/simulate -run '^$$' -fuzz '^FuzzCursorQuery$$' $(FUZZFLAGS)
	$(GO) test ./connectors/mapping -run '^$$' -fuzz '^FuzzMapping$$' $(FUZZFLAGS)
	$(GO) test ./connectors/mapping -run '^$$' -fuzz '^FuzzCompile$$' $(FUZZFLAGS)
	$(GO) test ./connectors/kafkain -run '^$$' -fuzz '^FuzzParseCursor$$' $(FUZZFLAGS)
	$(GO) test ./internal/api -run '^$$' -fuzz '^FuzzStrictJSON$$' $(FUZZFLAGS)
	$(GO) test ./internal/api -run '^$$' -fuzz '^FuzzCursor$$' $(FUZZFLAGS)
	$(GO) test ./internal/store -run '^$$' -fuzz '^FuzzSQLGate$$' $(FUZZFLAGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

bench: build
	bin/yiwang bench
