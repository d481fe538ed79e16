// Package bench measures yiwang against the limits of the machine it runs
// on: the loader against raw Kafka consume and raw DuckDB append in the
// same run (Loader), and a running server's API under concurrent clients
// (API). Only cmd imports it.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yiwang-gov/yiwang/pipelines"

	"github.com/yiwang-gov/yiwang/internal/deadletter"
	"github.com/yiwang-gov/yiwang/internal/reference"
	"github.com/yiwang-gov/yiwang/internal/simulate"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/loader"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

// LoaderOptions configure `yiwang bench`.
type LoaderOptions struct {
	// Records loaded from a backlog per run.
	Records int
	// LimitRecords caps the records the two limits are measured on (the
	// raw consume and the raw append), to keep memory flat on long runs.
	LimitRecords int
	// Runs to take the median of.
	Runs int
	// Rate and Duration of the steady-load latency phase.
	Rate     int
	Duration time.Duration
	// Partitions of the benchmark topic.
	Partitions int
	// Dir holds each run's broker log and database (removed afterwards).
	Dir string
	// BatchSize and BatchWait of the loader (the demo's by default).
	BatchSize int
	BatchWait time.Duration
	Writers   int
	// CheckpointBytes is DuckDB's checkpoint threshold for the loader's
	// database (store.Options; 0 for the store's default).
	CheckpointBytes int64
	// Seed of the district whose grids the events fall in, and of the
	// events (simulate.EventGenerator).
	Seed int64
}

// LoaderRun is one run's figures.
type LoaderRun struct {
	Records     int
	ProduceRate float64 // records/s, for information
	ConsumeRate float64 // raw kafka-go partition readers, no decoding
	AppendRate  float64 // raw DuckDB appender into the table, rows decoded beforehand
	LoaderRate  float64 // end to end: read, decode, validate, dedupe, upsert with offsets
	LatencyP50  time.Duration
	LatencyP99  time.Duration
	LatencyMax  time.Duration
	PeakRSS     int64 // bytes, whole process, after the loader phases
	RSS         int64 // bytes, whole process, after the loader phases
}

// Limit is the smaller of the two limits.
func (r LoaderRun) Limit() float64 { return min(r.ConsumeRate, r.AppendRate) }

// Ratio is the loader's rate as a share of the smaller limit.
func (r LoaderRun) Ratio() float64 { return r.LoaderRate / r.Limit() }

// Bench measures, in one process on this machine: the raw consume rate and
// the raw append rate of the same records (the limits), the loader's rate
// from a backlog, and event-to-queryable latency at a steady rate.
func Loader(ctx context.Context, o LoaderOptions, progress io.Writer) ([]LoaderRun, error) {
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		return nil, err
	}
	sc, _ := reg.Get("grid_event")
	cfg, err := demoConfig()
	if err != nil {
		return nil, err
	}
	d := simulate.NewDistrict(o.Seed, 0.01) // the scale sets households, which events do not need
	gen := simulate.NewEventGenerator(d, o.Seed)
	known := reference.AreaSet{}
	for _, a := range slices.Concat(d.Streets(), d.Communities(), d.Grids()) {
		known[a.Code] = true
	}
	if o.BatchSize == 0 {
		o.BatchSize = cfg.Loader.BatchSize
	}
	if o.BatchWait == 0 {
		o.BatchWait = cfg.Loader.BatchWait
	}
	if o.Writers == 0 {
		o.Writers = cfg.Loader.Writers
	}
	var runs []LoaderRun
	for i := range o.Runs {
		fmt.Fprintf(progress, "run %d of %d\n", i+1, o.Runs)
		r, err := benchOnce(ctx, o, reg, sc, gen, known, progress)
		if err != nil {
			return runs, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

func benchOnce(ctx context.Context, o LoaderOptions, reg *schemas.Registry, sc *schemas.Schema, gen *simulate.EventGenerator, known reference.AreaSet, progress io.Writer) (LoaderRun, error) {
	r := LoaderRun{Records: o.Records}
	dir, err := os.MkdirTemp(o.Dir, "yiwang-bench-")
	if err != nil {
		return r, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	broker, err := kafka.StartBroker(kafka.BrokerConfig{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "kafka"),
		Partitions: o.Partitions, SegmentBytes: 64 << 20})
	if err != nil {
		return r, err
	}
	defer broker.Close()
	brokers := []string{broker.Addr()}
	client := kafka.NewClient(brokers)
	defer client.Close()
	var topics []kafka.Topic
	for _, s := range reg.All() {
		topics = append(topics, kafka.Topic{Name: s.Topic, Partitions: o.Partitions, Configs: map[string]string{"segment.bytes": strconv.Itoa(64 << 20)}})
	}
	topics = append(topics, kafka.Topic{Name: deadletter.Topic, Partitions: 1})
	if err := client.EnsureTopics(ctx, topics); err != nil {
		return r, err
	}
	w := kafka.NewWriter(brokers, kafka.WriterOptions{BatchSize: 5000, BatchTimeout: 2 * time.Millisecond, Compress: true})
	defer func() { _ = w.Close() }()

	// Produce the backlog.
	t0 := time.Now()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if err := produceRange(ctx, w, sc.Topic, 0, o.Records, gen, base); err != nil {
		return r, err
	}
	r.ProduceRate = float64(o.Records) / time.Since(t0).Seconds()
	fmt.Fprintf(progress, "  produced %d records at %.0f/s\n", o.Records, r.ProduceRate)

	// The loader from the backlog, then at a steady rate.
	st, err := store.Open(ctx, filepath.Join(dir, "load.duckdb"), store.Options{CheckpointBytes: o.CheckpointBytes})
	if err != nil {
		return r, err
	}
	defer func() { _ = st.Close() }()
	if err := st.MigrateSchemas(ctx, reg); err != nil {
		return r, err
	}
	var consumed atomic.Int64
	var latMu sync.Mutex
	var lats []time.Duration
	var latFrom atomic.Int64 // unix nanos; records produced after it count
	caughtUp := make(chan struct{})
	var once sync.Once
	l := &loader.Loader{Log: client, Tables: loader.DuckDB(st), Registry: reg, Areas: known, Producer: w, Metrics: metrics.New(),
		BatchSize: o.BatchSize, BatchWait: o.BatchWait, Writers: o.Writers, Now: time.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		AfterCommit: func(produced []time.Time) {
			now := time.Now()
			if n := consumed.Add(int64(len(produced))); n >= int64(o.Records) {
				once.Do(func() { close(caughtUp) })
			}
			from := latFrom.Load()
			if from == 0 {
				return
			}
			latMu.Lock()
			for _, p := range produced {
				if p.UnixNano() >= from {
					lats = append(lats, now.Sub(p))
				}
			}
			latMu.Unlock()
		}}
	if os.Getenv("YIWANG_BENCH_DEBUG") != "" {
		l.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	lctx, stopLoader := context.WithCancel(ctx)
	defer stopLoader()
	loaderDone := make(chan error, 1)
	t0 = time.Now()
	go func() { loaderDone <- l.Run(lctx) }()
	select {
	case <-caughtUp:
	case err := <-loaderDone:
		return r, fmt.Errorf("loader stopped: %w", err)
	case <-ctx.Done():
		return r, ctx.Err()
	}
	r.LoaderRate = float64(o.Records) / time.Since(t0).Seconds()
	busy, batches := histogram(l.Metrics, "yiwang_loader_batch_duration_seconds")
	fmt.Fprintf(progress, "  loader: %d records from the backlog at %.0f/s (writers committed for %.1fs of %.1fs, %d batches)\n",
		o.Records, r.LoaderRate, busy, time.Since(t0).Seconds(), batches)

	if o.Duration > 0 && o.Rate > 0 {
		latFrom.Store(time.Now().UnixNano())
		n, err := produceSteady(ctx, w, sc.Topic, o.Records, o.Rate, o.Duration, gen)
		if err != nil {
			return r, err
		}
		deadline := time.Now().Add(30 * time.Second)
		for consumed.Load() < int64(o.Records+n) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		latMu.Lock()
		slices.Sort(lats)
		if len(lats) > 0 {
			r.LatencyP50 = lats[len(lats)/2]
			r.LatencyP99 = lats[len(lats)*99/100]
			r.LatencyMax = lats[len(lats)-1]
		}
		fmt.Fprintf(progress, "  latency at %d/s over %v: %d records, p50 %v p99 %v max %v\n", o.Rate, o.Duration, len(lats), r.LatencyP50, r.LatencyP99, r.LatencyMax)
		latMu.Unlock()
	}
	stopLoader()
	if err := <-loaderDone; err != nil {
		return r, err
	}
	r.RSS, r.PeakRSS = rss()

	// Limit 1: raw consume of the same records.
	lim := min(o.Records, o.LimitRecords)
	rate, err := rawConsume(ctx, client, sc.Topic, lim)
	if err != nil {
		return r, err
	}
	r.ConsumeRate = rate
	fmt.Fprintf(progress, "  raw kafka-go consume: %.0f/s\n", rate)

	// Limit 2: raw append of the same records, decoded beforehand.
	st2, err := store.Open(ctx, filepath.Join(dir, "raw.duckdb"), store.Options{})
	if err != nil {
		return r, err
	}
	defer func() { _ = st2.Close() }()
	if err := st2.MigrateSchemas(ctx, reg); err != nil {
		return r, err
	}
	var appendTime time.Duration
	const chunk = 100000
	for from := 0; from < lim; from += chunk {
		rows := make([][]any, 0, chunk)
		for i := from; i < min(from+chunk, lim); i++ {
			obj, err := schemas.Decode(gen.Append(nil, i, eventTime(base, i)))
			if err != nil {
				return r, err
			}
			row, err := sc.Row(obj)
			if err != nil {
				return r, err
			}
			rows = append(rows, row)
		}
		t := time.Now()
		if err := st2.AppendRaw(ctx, sc, rows); err != nil {
			return r, err
		}
		appendTime += time.Since(t)
	}
	r.AppendRate = float64(lim) / appendTime.Seconds()
	fmt.Fprintf(progress, "  raw DuckDB append: %.0f/s\n", r.AppendRate)
	return r, nil
}

// demoConfig returns the demo pipeline's config, whose loader settings the
// benchmark uses by default.
func demoConfig() (*pipelines.Config, error) {
	raw, base := pipelines.DemoConfig()
	return pipelines.Parse(raw, "newarea.yaml", base, func(string) (string, bool) { return "", false })
}

// eventTime is when the i-th backlog event was reported: one every 37 ms
// from base.
func eventTime(base time.Time, i int) time.Time {
	return base.Add(time.Duration(i) * 37 * time.Millisecond)
}

func produceRange(ctx context.Context, w *kafka.Writer, topic string, from, to int, gen *simulate.EventGenerator, base time.Time) error {
	const chunk = 20000
	const workers = 2
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	next := atomic.Int64{}
	next.Store(int64(from))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([]kafka.Message, 0, chunk)
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= to {
					return
				}
				msgs = msgs[:0]
				now := time.Now()
				for i := start; i < min(start+chunk, to); i++ {
					msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(gen.ID(i)), Value: gen.Append(nil, i, eventTime(base, i)), Time: now})
				}
				if err := w.Write(ctx, msgs...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// produceSteady produces at rate records/s for d, in 10 ms steps, each
// record stamped with its produce time. It returns how many it produced.
func produceSteady(ctx context.Context, w *kafka.Writer, topic string, from, rate int, d time.Duration, gen *simulate.EventGenerator) (int, error) {
	start := time.Now()
	sent := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for time.Since(start) < d {
		select {
		case <-ctx.Done():
			return sent, ctx.Err()
		case <-tick.C:
		}
		due := int(time.Since(start).Seconds()*float64(rate)) - sent
		if due <= 0 {
			continue
		}
		now := time.Now()
		msgs := make([]kafka.Message, due)
		for j := range due {
			i := from + sent + j
			msgs[j] = kafka.Message{Topic: topic, Key: []byte(gen.ID(i)), Value: gen.Append(nil, i, now), Time: now}
		}
		sent += due
		wg.Add(1)
		go func() { // writes overlap so that one slow acknowledgement does not hold the rate
			defer wg.Done()
			if err := w.Write(ctx, msgs...); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return sent, err
	default:
		return sent, nil
	}
}

func rawConsume(ctx context.Context, c *kafka.Client, topic string, n int) (float64, error) {
	parts, err := c.Partitions(ctx, topic)
	if err != nil {
		return 0, err
	}
	var total atomic.Int64
	start := time.Now()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewPartitionReader(c.Brokers, topic, p, -1, kafka.ReaderOptions{})
			defer func() { _ = r.Close() }()
			for {
				if _, err := r.Fetch(rctx); err != nil {
					return
				}
				if total.Add(1) >= int64(n) {
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if total.Load() < int64(n) {
		return 0, fmt.Errorf("raw consume read %d of %d records", total.Load(), n)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// rss returns the current and peak resident set size of this process.
func rss() (cur, peak int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			cur = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return cur, peak
}

// Median returns the run of median loader rate with every figure replaced
// by its median over runs.
func Median(runs []LoaderRun) LoaderRun {
	med := func(f func(LoaderRun) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return LoaderRun{
		Records:     runs[0].Records,
		ProduceRate: med(func(r LoaderRun) float64 { return r.ProduceRate }),
		ConsumeRate: med(func(r LoaderRun) float64 { return r.ConsumeRate }),
		AppendRate:  med(func(r LoaderRun) float64 { return r.AppendRate }),
		LoaderRate:  med(func(r LoaderRun) float64 { return r.LoaderRate }),
		LatencyP50:  time.Duration(med(func(r LoaderRun) float64 { return float64(r.LatencyP50) })),
		LatencyP99:  time.Duration(med(func(r LoaderRun) float64 { return float64(r.LatencyP99) })),
		LatencyMax:  time.Duration(med(func(r LoaderRun) float64 { return float64(r.LatencyMax) })),
		PeakRSS:     int64(med(func(r LoaderRun) float64 { return float64(r.PeakRSS) })),
		RSS:         int64(med(func(r LoaderRun) float64 { return float64(r.RSS) })),
	}
}

// histogram returns the sum and count of an unlabelled histogram.
func histogram(m *metrics.Metrics, name string) (float64, uint64) {
	mfs, err := m.Registry.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleSum(), h.GetSampleCount()
		}
	}
	return 0, 0
}
