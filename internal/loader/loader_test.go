package loader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

// anyArea accepts every well-formed grid code.
type anyArea struct{}

func (anyArea) Known(string) bool { return true }

const testGrid = "220173001011009"

// event returns grid event i as a connector publishes it.
func event(i int, base time.Time) []byte {
	t := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
	return fmt.Appendf(nil, `{"event_id":"E%06d","source":"gridder_patrol","category_major":"%02d","urgency":"normal","grid_code":"%s",`+
		`"status":"reported","reported_at":"%s","updated_at":"%s"}`, i, 1+i%12, testGrid, t, t)
}

// fakeLog is one topic's partitions in memory, with a log start that
// retention may move, and fetch failures to inject.
type fakeLog struct {
	mu       sync.Mutex
	topic    string
	parts    map[int][]kafka.Message // by partition; the record at offset o is parts[p][o-start[p]]
	start    map[int]int64
	failNext int // fetches to fail before the next succeeds
	fails    int // fetches failed
	fetches  []int64
	err      error // what failing fetches return
}

func newFakeLog(topic string, partitions int) *fakeLog {
	f := &fakeLog{topic: topic, parts: map[int][]kafka.Message{}, start: map[int]int64{}, err: errors.New("broker: connection refused")}
	for p := range partitions {
		f.parts[p] = nil
	}
	return f
}

func (f *fakeLog) produce(p int, values ...[]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range values {
		off := f.start[p] + int64(len(f.parts[p]))
		f.parts[p] = append(f.parts[p], kafka.Message{Topic: f.topic, Partition: p, Offset: off, Value: v, Time: time.Now()})
	}
}

// deleteBefore is retention: the records of p before offset are gone.
func (f *fakeLog) deleteBefore(p int, offset int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.parts[p] = f.parts[p][offset-f.start[p]:]
	f.start[p] = offset
}

func (f *fakeLog) Partitions(_ context.Context, topic string) ([]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if topic != f.topic {
		return nil, nil
	}
	var out []int
	for p := range f.parts {
		out = append(out, p)
	}
	return out, nil
}

func (f *fakeLog) Fetch(ctx context.Context, topic string, p int, offset int64, o kafka.FetchOptions) (kafka.Fetched, error) {
	f.mu.Lock()
	f.fetches = append(f.fetches, offset)
	if f.failNext > 0 {
		f.failNext--
		f.fails++
		f.mu.Unlock()
		return kafka.Fetched{Next: offset}, f.err
	}
	start, msgs := f.start[p], f.parts[p]
	hw := start + int64(len(msgs))
	f.mu.Unlock()
	if offset < start || offset > hw {
		// As Apache Kafka answers an error: no bounds.
		return kafka.Fetched{Next: offset, HighWater: -1, LogStart: -1}, fmt.Errorf("fetch %s/%d at %d: %w", topic, p, offset, kafka.ErrOffsetOutOfRange)
	}
	got := msgs[offset-start : min(int64(len(msgs)), offset-start+100)]
	if len(got) == 0 {
		select { // the broker's wait for records
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	next := offset + int64(len(got))
	return kafka.Fetched{Messages: append([]kafka.Message(nil), got...), Next: next, HighWater: hw, LogStart: start}, nil
}

func (f *fakeLog) PartitionOffsets(_ context.Context, topics map[string][]int) (map[string]map[int]kafka.Offsets, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]map[int]kafka.Offsets{}
	for t, ps := range topics {
		out[t] = map[int]kafka.Offsets{}
		for _, p := range ps {
			out[t][p] = kafka.Offsets{First: f.start[p], Next: f.start[p] + int64(len(f.parts[p]))}
		}
	}
	return out, nil
}

// fakeTables keeps the committed rows by key and the offsets, as the
// store's transaction does: together.
type fakeTables struct {
	mu      sync.Mutex
	offsets map[string]map[int]int64
	rows    map[string]int // key → times written
	applied chan struct{}  // a signal per committed batch
}

func newFakeTables() *fakeTables {
	return &fakeTables{offsets: map[string]map[int]int64{}, rows: map[string]int{}, applied: make(chan struct{}, 1000)}
}

func (t *fakeTables) Offsets(context.Context) (map[string]map[int]int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]map[int]int64{}
	for topic, ps := range t.offsets {
		out[topic] = map[int]int64{}
		for p, o := range ps {
			out[topic][p] = o
		}
	}
	return out, nil
}

func (t *fakeTables) NewApplier() Applier { return fakeApplier{t} }

type fakeApplier struct{ t *fakeTables }

func (a fakeApplier) Apply(_ context.Context, b store.Batch) error {
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	for _, tr := range b.Tables {
		for _, r := range tr.Rows {
			a.t.rows[fmt.Sprint(r[0])]++
		}
	}
	for topic, ps := range b.Next {
		if a.t.offsets[topic] == nil {
			a.t.offsets[topic] = map[int]int64{}
		}
		for p, o := range ps {
			a.t.offsets[topic][p] = o
		}
	}
	select {
	case a.t.applied <- struct{}{}:
	default:
	}
	return nil
}

func (fakeApplier) Close() error { return nil }

func (t *fakeTables) next(topic string, p int) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.offsets[topic][p]
}

func (t *fakeTables) keys() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for k, v := range t.rows {
		out[k] = v
	}
	return out
}

type noProducer struct{}

func (noProducer) Write(context.Context, ...kafka.Message) error { return nil }

type fixture struct {
	log    *fakeLog
	tables *fakeTables
	loader *Loader
	logs   *bytes.Buffer
	logMu  *sync.Mutex
	topic  string
}

func newFixture(t *testing.T, partitions int) *fixture {
	t.Helper()
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := reg.Get("grid_event")
	f := &fixture{log: newFakeLog(sc.Topic, partitions), tables: newFakeTables(), logs: &bytes.Buffer{}, logMu: &sync.Mutex{}, topic: sc.Topic}
	f.loader = &Loader{Log: f.log, Tables: f.tables, Registry: reg, Areas: anyArea{}, Producer: noProducer{}, Metrics: metrics.New(),
		BatchSize: 50, BatchWait: 5 * time.Millisecond, Writers: 1, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{f.logMu, f.logs}, nil))}
	return f
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fixture) logged() string {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	return f.logs.String()
}

// run starts the loader and returns a stop that waits for it.
func (f *fixture) run(t *testing.T) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.loader.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("loader: %v", err)
		}
	}
}

// waitFor waits until the tables' next offset of partition p is want, or
// fails the test after a minute (a stalled partition).
func (f *fixture) waitFor(t *testing.T, p int, want int64) {
	t.Helper()
	deadline := time.After(time.Minute)
	for f.tables.next(f.topic, p) != want {
		select {
		case <-f.tables.applied:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("partition %d: next offset %d after a minute, want %d\nlog:\n%s", p, f.tables.next(f.topic, p), want, f.logged())
		}
	}
}

func events(from, to int) [][]byte {
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, event(i, base))
	}
	return out
}

// TestFetchFailuresRecover: a partition whose fetches fail goes on loading
// once they succeed again — it is never left unread until a restart — and
// the failures are logged once when they begin and once when they end.
func TestFetchFailuresRecover(t *testing.T) {
	f := newFixture(t, 2)
	f.log.produce(0, events(0, 120)...)
	f.log.produce(1, events(120, 150)...)
	stop := f.run(t)
	defer stop()
	f.waitFor(t, 0, 120)
	f.waitFor(t, 1, 30)

	f.log.mu.Lock()
	f.log.failNext = 25 // both partitions fail, then recover
	f.log.mu.Unlock()
	f.log.produce(0, events(150, 200)...)
	f.log.produce(1, events(200, 260)...)
	f.waitFor(t, 0, 170)
	f.waitFor(t, 1, 90)

	keys := f.tables.keys()
	if len(keys) != 260 {
		t.Fatalf("%d keys loaded, want 260", len(keys))
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("%s written %d times", k, n)
		}
	}
	log := f.logged()
	if began, ended := strings.Count(log, "fetch failed; retrying"), strings.Count(log, "fetch recovered"); began < 1 || began > 2 || ended != began {
		t.Errorf("failure episodes logged %d times and recoveries %d times, want once per partition that failed (25 failures):\n%s", began, ended, log)
	}
	if got := testutil.ToFloat64(f.loader.Metrics.LoaderFetchErrors.WithLabelValues(f.topic)); got != 25 {
		t.Errorf("yiwang_loader_fetch_errors_total = %v, want 25", got)
	}
}

// TestOffsetBelowLogStart: when retention has deleted records the loader
// had not read yet, it reports how many, counts them in
// yiwang_loader_skipped_records_total and loads on from the log start.
func TestOffsetBelowLogStart(t *testing.T) {
	f := newFixture(t, 1)
	f.log.produce(0, events(0, 40)...)
	f.tables.offsets[f.topic] = map[int]int64{0: 10} // loaded up to 10 before a stop
	f.log.deleteBefore(0, 25)                        // meanwhile retention deleted 0..24
	stop := f.run(t)
	defer stop()
	f.waitFor(t, 0, 40)
	if got := testutil.ToFloat64(f.loader.Metrics.LoaderSkipped.WithLabelValues(f.topic, "0")); got != 15 {
		t.Errorf("skipped records = %v, want 15 (offsets 10..24)", got)
	}
	if log := f.logged(); !strings.Contains(log, "below the partition's log start") || !strings.Contains(log, "skipped=15") {
		t.Errorf("log does not report the 15 deleted records:\n%s", log)
	}
	if keys := f.tables.keys(); len(keys) != 15 || keys["E000025"] != 1 || keys["E000039"] != 1 {
		t.Errorf("loaded %v, want E000025..E000039", keys)
	}
}

// TestOffsetPastTheEnd: a stored offset past the partition's end (its log
// was lost and written again) is reported and the partition is loaded again
// from its start — nothing new in it is skipped.
func TestOffsetPastTheEnd(t *testing.T) {
	f := newFixture(t, 1)
	f.tables.offsets[f.topic] = map[int]int64{0: 500}
	f.log.produce(0, events(0, 30)...)
	stop := f.run(t)
	defer stop()
	f.waitFor(t, 0, 30)
	if got := testutil.ToFloat64(f.loader.Metrics.LoaderOffsetResets.WithLabelValues(f.topic, "0")); got != 1 {
		t.Errorf("offset resets = %v, want 1", got)
	}
	if !strings.Contains(f.logged(), "past the partition's end") {
		t.Errorf("no report of the reset:\n%s", f.logged())
	}
	if keys := f.tables.keys(); len(keys) != 30 {
		t.Errorf("%d keys loaded, want 30", len(keys))
	}
}

// TestInvalidRecordsAreDeadLettered: a record the schema refuses becomes a
// dead letter written before its batch commits, and its offset is
// committed with the batch.
func TestInvalidRecordsAreDeadLettered(t *testing.T) {
	f := newFixture(t, 1)
	var mu sync.Mutex
	var dead []kafka.Message
	f.loader.Producer = producerFunc(func(_ context.Context, msgs ...kafka.Message) error {
		mu.Lock()
		defer mu.Unlock()
		dead = append(dead, msgs...)
		return nil
	})
	f.log.produce(0, append(events(0, 5), []byte(`{"event_id":"X1","note":"报警人13800138000"}`))...)
	stop := f.run(t)
	f.waitFor(t, 0, 6)
	stop()
	mu.Lock()
	defer mu.Unlock()
	if len(dead) != 1 || dead[0].Header("yiwang.stage") != "loader" || strings.Contains(string(dead[0].Value), "13800138000") {
		for _, d := range dead {
			t.Logf("dead letter %s: %s", d.Header("yiwang.error.message"), d.Value)
		}
		t.Fatalf("%d dead letters, want 1 from the loader with the mobile number masked", len(dead))
	}
	if keys := f.tables.keys(); len(keys) != 5 {
		t.Errorf("%d keys loaded, want 5", len(keys))
	}
}

type producerFunc func(ctx context.Context, msgs ...kafka.Message) error

func (p producerFunc) Write(ctx context.Context, msgs ...kafka.Message) error { return p(ctx, msgs...) }
