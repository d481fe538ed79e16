// Package loader consumes the record topics into the analytical tables,
// effectively once. It owns the load: which offsets of which partitions
// are in the tables, the batches, the version guard's input, the dead
// letters of records that fail validation at the loader, and the loader's
// metrics. It reads the log through Log and writes through Tables, so that
// its behaviour under fetch failures, retention and conflicts is tested
// with fakes; DuckDB adapts internal/store to Tables.
package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yiwang-gov/yiwang/internal/deadletter"
	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

// Log is the part of Kafka the loader reads.
type Log interface {
	Partitions(ctx context.Context, topic string) ([]int, error)
	// Fetch reads records from offset on; an offset the partition does
	// not hold is an error wrapping kafka.ErrOffsetOutOfRange, with the
	// partition's bounds in the Fetched.
	Fetch(ctx context.Context, topic string, partition int, offset int64, o kafka.FetchOptions) (kafka.Fetched, error)
	PartitionOffsets(ctx context.Context, topics map[string][]int) (map[string]map[int]kafka.Offsets, error)
}

// GroupCommitter, when the Log is one, receives the committed offsets
// under Loader.Group, for lag tools only.
type GroupCommitter interface {
	CommitGroupOffsets(ctx context.Context, group string, next map[string]map[int]int64) error
}

// Tables is where the loader writes: its batches, and the next offset of
// every partition it loaded, committed with them.
type Tables interface {
	Offsets(ctx context.Context) (map[string]map[int]int64, error)
	NewApplier() Applier
}

// Applier commits batches in one transaction each, on one connection.
type Applier interface {
	// Apply commits the rows and the offsets together or not at all; an
	// error wrapping store.ErrConflict may be retried with b.Safe.
	Apply(ctx context.Context, b store.Batch) error
	Close() error
}

// Producer writes dead letters.
type Producer interface {
	Write(ctx context.Context, msgs ...kafka.Message) error
}

// DuckDB returns st as the loader's Tables.
func DuckDB(st *store.Store) Tables { return duckTables{st} }

type duckTables struct{ st *store.Store }

func (d duckTables) Offsets(ctx context.Context) (map[string]map[int]int64, error) {
	return d.st.Offsets(ctx)
}
func (d duckTables) NewApplier() Applier { return d.st.NewWriter() }

// Loader consumes every record topic of Registry into Tables.
//
// It owns its offsets: each partition is read without a consumer group from
// the next offset stored with the tables. Every batch is validated again
// (anyone may write to a topic), deduplicated by natural key keeping the
// highest version, upserted so that an older version never overwrites a
// newer one, and committed together with the consumed offsets in one
// transaction. Records that fail validation go to the dead-letter topic
// before the batch that consumed them commits.
//
// A fetch that fails is retried with backoff for as long as it fails,
// logged once when the failures begin and once when they end. A stored
// offset below the partition's log start (retention deleted records never
// loaded) is logged, counted in yiwang_loader_skipped_records_total, and
// loading goes on from the log start; one past the partition's end (the log
// was lost or recreated) is logged and counted the same way and loading
// starts again from the log start, which the version guard makes safe.
type Loader struct {
	Log      Log
	Tables   Tables
	Registry *schemas.Registry
	Areas    schemas.Areas
	Producer Producer // for dead letters
	Metrics  *metrics.Metrics
	// BatchSize and BatchWait bound a batch by records and by the time
	// since its first record (defaults 20,000 and 500 ms).
	BatchSize int
	BatchWait time.Duration
	// Writers is the number of connections loading at once, each owning a
	// share of the partitions and committing its own batches (default 2:
	// the appender is single-threaded, and its per-value work then uses
	// both cores).
	Writers int
	// Fetch bounds each fetch (bytes, wait; records default to as many as
	// the bytes hold).
	Fetch kafka.FetchOptions
	// FetchBudget bounds the bytes all partitions ask for at once (default
	// 32 MiB): each partition's fetch asks for an equal share of it, at
	// least 64 KiB and at most Fetch.MaxBytes. A partition holds up to
	// three answers (one arriving, one waiting, one being decoded), and the
	// embedded broker keeps a buffer of the largest answer per connection,
	// so this is what bounds the loader's memory however many partitions
	// it reads.
	FetchBudget int
	// Backoff is the first wait after a failed fetch, doubled up to
	// MaxBackoff (defaults 100 ms and 10 s), with jitter.
	Backoff, MaxBackoff time.Duration
	// Group, if set, receives the committed offsets (for lag tools).
	Group  string
	Now    func() time.Time
	Logger *slog.Logger
	// AfterCommit, if set, is called after every committed batch with the
	// Kafka timestamps of the records it consumed (benchmarks measure
	// event-to-queryable latency with it).
	AfterCommit func(produced []time.Time)
	// Changed, if set, is called after every committed batch with each
	// table it wrote and the earliest event time (the schema's event_time)
	// among its rows, so that what reads the table can catch up.
	Changed func(table string, earliest time.Time)

	reading atomic.Int64 // partitions being read, for the fetch budget

	mu     sync.Mutex
	newest map[string]time.Time // per table
}

type item struct {
	topic     string
	partition int
	offset    int64
	schema    *schemas.Schema
	key       string
	version   int64
	row       []any
	eventTime time.Time
	dead      *kafka.Message
	produced  time.Time // the Kafka record's timestamp
}

type partKey struct {
	topic     string
	partition int
}

func (l *Loader) defaults() {
	if l.BatchSize <= 0 {
		l.BatchSize = 20000
	}
	if l.BatchWait <= 0 {
		l.BatchWait = 500 * time.Millisecond
	}
	if l.Backoff <= 0 {
		l.Backoff = 100 * time.Millisecond
	}
	if l.MaxBackoff <= 0 {
		l.MaxBackoff = 10 * time.Second
	}
	if l.Fetch.MaxRecords <= 0 {
		// Bounded by the fetch's bytes instead: a fetch answers up to
		// MaxBytes of records, and records past MaxRecords would be read
		// again by the next one.
		l.Fetch.MaxRecords = 1 << 20
	}
	if l.Fetch.MaxBytes <= 0 {
		l.Fetch.MaxBytes = 2 << 20 // per partition, a few answers ahead of the writers
	}
	if l.FetchBudget <= 0 {
		l.FetchBudget = 32 << 20
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.Logger == nil {
		l.Logger = slog.Default()
	}
	if l.Metrics == nil {
		l.Metrics = metrics.New()
	}
}

// Run loads until ctx ends, then commits what it has consumed and returns
// nil. It returns an error when the tables can no longer be written
// (store.ErrInvalidated) or a batch fails for a reason retrying cannot fix;
// nothing of the failed batch is committed.
func (l *Loader) Run(ctx context.Context) error {
	l.defaults()
	offsets, err := l.Tables.Offsets(ctx)
	if err != nil {
		return err
	}
	nw := max(l.Writers, 1)
	queues := make([]chan item, nw)
	for i := range queues {
		queues[i] = make(chan item, max(l.BatchSize, 1024))
	}
	readCtx, stopReaders := context.WithCancel(ctx)
	var wg sync.WaitGroup
	started := map[partKey]bool{}
	var startMu sync.Mutex
	startNew := func() error {
		startMu.Lock()
		defer startMu.Unlock()
		for _, sc := range l.Registry.All() {
			parts, err := l.Log.Partitions(ctx, sc.Topic)
			if err != nil {
				return err
			}
			for _, p := range parts {
				k := partKey{sc.Topic, p}
				if started[k] {
					continue
				}
				items := queues[len(started)%nw]
				started[k] = true
				l.reading.Add(1)
				from, stored := offsets[sc.Topic][p]
				wg.Add(1)
				go func() {
					defer wg.Done()
					l.readPartition(readCtx, sc, p, from, stored, items)
				}()
			}
		}
		return nil
	}
	for attempt := 0; ; attempt++ {
		err := startNew()
		if err == nil {
			break
		}
		if attempt == 0 {
			l.Logger.Warn("list partitions; retrying until the broker answers", "err", err)
		}
		if !sleep(ctx, l.backoff(attempt)) {
			stopReaders()
			return nil
		}
	}
	go func() { // new partitions and topics appear without a restart
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-readCtx.Done():
				return
			case <-t.C:
				if err := startNew(); err != nil && readCtx.Err() == nil {
					l.Logger.Warn("refresh partitions", "err", err)
				}
			}
		}
	}()
	go l.reportLag(readCtx)

	// Each writer commits its own partitions' batches; the first failure
	// stops the others, which still commit what they consumed.
	errs := make(chan error, nw)
	wctx, stopWriters := context.WithCancel(ctx)
	defer stopWriters()
	for _, q := range queues {
		go func() {
			w := l.Tables.NewApplier()
			err := l.batches(wctx, q, w)
			if cerr := w.Close(); err == nil && cerr != nil {
				err = cerr
			}
			if err != nil {
				stopWriters()
			}
			errs <- err
		}()
	}
	for range nw {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	stopReaders()
	wg.Wait()
	return err
}

// backoff returns the wait before retry attempt+1: Backoff doubled per
// attempt up to MaxBackoff, then between half and all of it.
func (l *Loader) backoff(attempt int) time.Duration {
	d := l.Backoff << min(attempt, 20)
	if d <= 0 || d > l.MaxBackoff {
		d = l.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends, reporting whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// readPartition fetches one partition from offset from (the log start when
// none is stored) until ctx ends, handing its records to out. One goroutine
// fetches while the other decodes the previous answer.
func (l *Loader) readPartition(ctx context.Context, sc *schemas.Schema, p int, from int64, stored bool, out chan<- item) {
	fetched := make(chan []kafka.Message, 1)
	go func() {
		defer close(fetched)
		l.fetchPartition(ctx, sc.Topic, p, from, stored, fetched)
	}()
	for msgs := range fetched {
		for _, m := range msgs {
			select {
			case out <- l.decode(sc, m):
			case <-ctx.Done():
				for range fetched { // let the fetcher end
				}
				return
			}
		}
	}
}

func (l *Loader) fetchPartition(ctx context.Context, topic string, p int, offset int64, stored bool, out chan<- []kafka.Message) {
	if !stored {
		offset = 0 // from the log start: an offset below it is moved up to it
	}
	failing, failedAt := 0, time.Time{}
	for ctx.Err() == nil {
		f, err := l.Log.Fetch(ctx, topic, p, offset, l.fetchOptions())
		if err != nil && ctx.Err() != nil {
			return
		}
		if errors.Is(err, kafka.ErrOffsetOutOfRange) {
			// The fetch answer's bounds are -1 on an error from Apache
			// Kafka: ask for them.
			// Still in range by the bounds (retention moved between the
			// two answers, or the broker disagrees with itself): a
			// failure like any other, retried with backoff.
			if bounds, berr := l.bounds(ctx, topic, p); berr == nil && (offset < bounds.First || offset > bounds.Next) {
				offset = l.outOfRange(topic, p, offset, stored, bounds)
				stored = true
				continue
			}
		}
		if err != nil {
			if failing == 0 {
				failedAt = time.Now()
				l.Logger.Warn("fetch failed; retrying with backoff until it succeeds", "topic", topic, "partition", p, "offset", offset, "err", err)
			}
			l.Metrics.LoaderFetchErrors.WithLabelValues(topic).Inc()
			if !sleep(ctx, l.backoff(failing)) {
				return
			}
			failing++
			continue
		}
		if failing > 0 {
			l.Logger.Info("fetch recovered", "topic", topic, "partition", p, "offset", offset, "failures", failing, "after", time.Since(failedAt).Round(time.Millisecond))
			failing = 0
		}
		if len(f.Messages) > 0 {
			select {
			case out <- f.Messages:
			case <-ctx.Done():
				return
			}
		}
		if f.Next > offset {
			offset = f.Next
		}
	}
}

// fetchOptions are one partition's fetch bounds: its share of the budget.
func (l *Loader) fetchOptions() kafka.FetchOptions {
	o := l.Fetch
	share := l.FetchBudget / int(max(l.reading.Load(), 1))
	o.MaxBytes = max(min(share, o.MaxBytes), min(64<<10, o.MaxBytes))
	return o
}

// bounds returns the partition's first offset and high watermark.
func (l *Loader) bounds(ctx context.Context, topic string, p int) (kafka.Offsets, error) {
	offs, err := l.Log.PartitionOffsets(ctx, map[string][]int{topic: {p}})
	if err != nil {
		return kafka.Offsets{}, err
	}
	o, ok := offs[topic][p]
	if !ok {
		return kafka.Offsets{}, fmt.Errorf("no offsets of %s/%d in the broker's answer", topic, p)
	}
	return o, nil
}

// outOfRange returns where to go on reading after a fetch at offset found
// the partition holding only [f.First, f.Next), and says so.
func (l *Loader) outOfRange(topic string, p int, offset int64, stored bool, f kafka.Offsets) int64 {
	switch {
	case offset < f.First && !stored:
		// A partition never loaded, whose start retention has moved on:
		// the records before it were never in the tables.
		l.Logger.Warn("partition loaded for the first time from its log start: the records before it were deleted by retention and are not in the tables",
			"topic", topic, "partition", p, "log_start", f.First)
	case offset < f.First:
		l.Logger.Error("stored offset is below the partition's log start: retention deleted records that were never loaded; loading goes on from the log start",
			"topic", topic, "partition", p, "offset", offset, "log_start", f.First, "skipped", f.First-offset)
	default:
		l.Logger.Error("stored offset is past the partition's end: the log was lost or recreated; loading again from its start (the version guard keeps the tables right)",
			"topic", topic, "partition", p, "offset", offset, "high_water", f.Next, "log_start", f.First)
		l.Metrics.LoaderOffsetResets.WithLabelValues(topic, strconv.Itoa(p)).Inc()
		return f.First
	}
	l.Metrics.LoaderSkipped.WithLabelValues(topic, strconv.Itoa(p)).Add(float64(f.First - offset))
	return f.First
}

func (l *Loader) decode(sc *schemas.Schema, m kafka.Message) item {
	it := item{topic: m.Topic, partition: m.Partition, offset: m.Offset, schema: sc, produced: m.Time}
	rec, err := sc.Load(m.Value, l.Areas, l.Now())
	if err != nil {
		source := m.Header(deadletter.HeaderSource)
		if source == "" {
			source = "kafka:" + m.Topic
		}
		pos := "kafka:" + m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
		obj, _ := schemas.Decode(m.Value)
		dl := deadletter.New("loader", source, sc.Name, pos, deadletter.Scrub(sc, m.Value, obj), err, l.Now())
		it.dead = &dl
		return it
	}
	it.row, it.key, it.version, it.eventTime = rec.Row, rec.Key, rec.Version, rec.EventTime
	return it
}

// batches collects items into batches by size and time and commits them.
func (l *Loader) batches(ctx context.Context, items <-chan item, w Applier) error {
	var batch []item
	var deadline <-chan time.Time
	var timer *time.Timer
	flush := func(fctx context.Context) error {
		if timer != nil {
			timer.Stop()
			timer, deadline = nil, nil
		}
		if len(batch) == 0 {
			return nil
		}
		// A batch begun is finished even when shutdown starts meanwhile:
		// cancelling it half-way would only roll it back to be read again.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(fctx), time.Minute)
		err := l.commit(cctx, batch, w)
		cancel()
		batch = batch[:0]
		return err
	}
	for {
		select {
		case <-ctx.Done():
			// Drain: commit what was consumed, not waiting for more.
			for {
				select {
				case it := <-items:
					batch = append(batch, it)
					continue
				default:
				}
				break
			}
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			return flush(dctx)
		case it := <-items:
			batch = append(batch, it)
			if len(batch) == 1 {
				timer = time.NewTimer(l.BatchWait)
				deadline = timer.C
			}
			if len(batch) >= l.BatchSize {
				if err := flush(ctx); err != nil {
					return err
				}
			}
		case <-deadline:
			timer, deadline = nil, nil
			if err := flush(ctx); err != nil {
				return err
			}
		}
	}
}

func (l *Loader) commit(ctx context.Context, batch []item, w Applier) error {
	start := time.Now()
	type kv struct {
		idx     int
		version int64
	}
	latest := map[*schemas.Schema]map[string]kv{}
	next := map[string]map[int]int64{}
	var dead []kafka.Message
	newest := map[*schemas.Schema]time.Time{}
	oldest := map[*schemas.Schema]time.Time{}
	for i, it := range batch {
		if next[it.topic] == nil {
			next[it.topic] = map[int]int64{}
		}
		if it.offset+1 > next[it.topic][it.partition] {
			next[it.topic][it.partition] = it.offset + 1
		}
		if it.dead != nil {
			dead = append(dead, *it.dead)
			continue
		}
		m := latest[it.schema]
		if m == nil {
			m = map[string]kv{}
			latest[it.schema] = m
		}
		// Keep the highest version; on a tie the later record wins.
		if prev, ok := m[it.key]; !ok || it.version >= prev.version {
			if ok {
				l.Metrics.LoaderRecords.WithLabelValues(it.schema.Table, "duplicate_in_batch").Inc()
			}
			m[it.key] = kv{i, it.version}
		} else {
			l.Metrics.LoaderRecords.WithLabelValues(it.schema.Table, "duplicate_in_batch").Inc()
		}
		if it.eventTime.After(newest[it.schema]) {
			newest[it.schema] = it.eventTime
		}
		if o, ok := oldest[it.schema]; !ok || (!it.eventTime.IsZero() && (o.IsZero() || it.eventTime.Before(o))) {
			oldest[it.schema] = it.eventTime
		}
	}
	var b store.Batch
	b.Next = next
	for sc, m := range latest {
		rows := make([][]any, 0, len(m))
		for _, e := range m {
			rows = append(rows, batch[e.idx].row)
		}
		b.Tables = append(b.Tables, store.TableRows{Schema: sc, Rows: rows})
	}
	if len(dead) > 0 {
		if err := l.Producer.Write(ctx, dead...); err != nil {
			l.Metrics.LoaderBatches.WithLabelValues("failed").Inc()
			return fmt.Errorf("write dead letters: %w", err)
		}
		for _, d := range dead {
			l.Metrics.DeadLetters.WithLabelValues("loader", d.Header(deadletter.HeaderSource), d.Header(deadletter.HeaderSchema), d.Header(deadletter.HeaderCode)).Inc()
		}
	}
	for attempt := 1; ; attempt++ {
		err := w.Apply(ctx, b)
		if err == nil {
			break
		}
		l.Metrics.LoaderBatches.WithLabelValues("failed").Inc()
		if errors.Is(err, store.ErrConflict) && attempt < 10 && ctx.Err() == nil {
			l.Logger.Warn("batch conflicted; retrying with every row conflict-checked", "attempt", attempt, "err", err)
			b.Safe = true
			if sleep(ctx, time.Duration(attempt)*50*time.Millisecond) {
				continue
			}
		}
		return fmt.Errorf("commit batch of %d records: %w", len(batch), err)
	}
	l.Metrics.LoaderBatches.WithLabelValues("committed").Inc()
	l.Metrics.LoaderBatchTime.Observe(time.Since(start).Seconds())
	l.Metrics.LoaderLastCommit.Set(float64(l.Now().UnixMilli()) / 1000)
	for sc, m := range latest {
		l.Metrics.LoaderRecords.WithLabelValues(sc.Table, "loaded").Add(float64(len(m)))
	}
	for _, d := range dead {
		l.Metrics.LoaderRecords.WithLabelValues(d.Header(deadletter.HeaderSchema), "deadletter").Inc()
	}
	for sc, t := range newest {
		l.tableNewest(sc.Table, t)
	}
	l.committed(next)
	if l.Changed != nil {
		for sc := range latest {
			l.Changed(sc.Table, oldest[sc])
		}
	}
	if l.AfterCommit != nil {
		ts := make([]time.Time, len(batch))
		for i, it := range batch {
			ts[i] = it.produced
		}
		l.AfterCommit(ts)
	}
	return nil
}

func (l *Loader) tableNewest(table string, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.newest == nil {
		l.newest = map[string]time.Time{}
	}
	if t.After(l.newest[table]) {
		l.newest[table] = t
		l.Metrics.TableNewestEvent.WithLabelValues(table).Set(float64(t.UnixMilli()) / 1000)
	}
}

// committed commits the offsets to Kafka for lag tools, if a group is
// configured. The loader never reads them back: the tables hold the truth.
func (l *Loader) committed(next map[string]map[int]int64) {
	gc, ok := l.Log.(GroupCommitter)
	if l.Group == "" || !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gc.CommitGroupOffsets(ctx, l.Group, next); err != nil {
		l.Logger.Debug("commit group offsets (for lag tools only)", "err", err)
	}
}

// reportLag exports, every 5 s, the distance between the committed offsets
// and the high watermarks (the fetchers update it between those times).
func (l *Loader) reportLag(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req := map[string][]int{}
		for _, sc := range l.Registry.All() {
			parts, err := l.Log.Partitions(ctx, sc.Topic)
			if err != nil {
				continue
			}
			req[sc.Topic] = parts
		}
		offs, err := l.Log.PartitionOffsets(ctx, req)
		if err != nil {
			continue
		}
		stored, err := l.Tables.Offsets(ctx)
		if err != nil {
			continue
		}
		for topic, ps := range offs {
			for p, o := range ps {
				done, ok := stored[topic][p]
				if !ok {
					done = o.First
				}
				l.Metrics.LoaderLag.WithLabelValues(topic, strconv.Itoa(p)).Set(float64(max(o.Next-done, 0)))
			}
		}
	}
}
