package pipelines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/yiwang-gov/yiwang/internal/deadletter"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

// Loader consumes every record topic into DuckDB, effectively once.
//
// It owns its offsets: each partition is read without a consumer group from
// the next offset stored in DuckDB's load_offsets table. Every batch is
// validated again (anyone may write to a topic), deduplicated by natural key
// keeping the highest version, upserted so that an older version never
// overwrites a newer one, and committed together with the consumed offsets
// in one DuckDB transaction. Group offsets are committed afterwards for lag
// tools only. Records that fail validation go to the dead-letter topic
// before the batch that consumed them commits.
type Loader struct {
	Client    *kafka.Client
	Store     *store.Store
	Registry  *schemas.Registry
	Areas     schemas.Areas
	Producer  connectors.Producer // for dead letters
	Metrics   *metrics.Metrics
	BatchSize int
	BatchWait time.Duration
	// Writers is the number of DuckDB connections loading at once, each
	// owning a share of the partitions and committing its own batches
	// (default 2: the appender is single-threaded, and its per-value work
	// then uses both cores).
	Writers int
	// Group, if set, receives the committed offsets (for lag tools).
	Group string
	Now   func() time.Time
	Log   *slog.Logger
	// AfterCommit, if set, is called after every committed batch with the
	// Kafka timestamps of the records it consumed (benchmarks measure
	// event-to-queryable latency with it).
	AfterCommit func(produced []time.Time)

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

// Run loads until ctx ends, then commits what it has consumed and returns
// nil. It returns an error when DuckDB can no longer write
// (store.ErrInvalidated) or a batch fails for a reason retrying cannot fix;
// nothing of the failed batch is committed.
func (l *Loader) Run(ctx context.Context) error {
	offsets, err := l.Store.Offsets(ctx)
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
			parts, err := l.Client.Partitions(ctx, sc.Topic)
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
				from := int64(-1)
				if o, ok := offsets[sc.Topic][p]; ok {
					from = o
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					l.readPartition(readCtx, sc, p, from, items)
				}()
			}
		}
		return nil
	}
	if err := startNew(); err != nil {
		stopReaders()
		return fmt.Errorf("start partition readers: %w", err)
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
					l.Log.Warn("refresh partitions", "err", err)
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
			w := l.Store.NewWriter()
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

func (l *Loader) readPartition(ctx context.Context, sc *schemas.Schema, p int, from int64, out chan<- item) {
	r := kafka.NewPartitionReader(l.Client.Brokers, sc.Topic, p, from, kafka.ReaderOptions{})
	defer func() { _ = r.Close() }()
	for {
		m, err := r.Fetch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				l.Log.Error("read partition", "topic", sc.Topic, "partition", p, "err", err)
			}
			return
		}
		it := l.decode(sc, m)
		select {
		case out <- it:
		case <-ctx.Done():
			return
		}
	}
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
func (l *Loader) batches(ctx context.Context, items <-chan item, w *store.Writer) error {
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

func (l *Loader) commit(ctx context.Context, batch []item, w *store.Writer) error {
	start := time.Now()
	type kv struct {
		idx     int
		version int64
	}
	latest := map[*schemas.Schema]map[string]kv{}
	next := map[string]map[int]int64{}
	var dead []kafka.Message
	newest := map[*schemas.Schema]time.Time{}
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
			l.Log.Warn("batch conflicted; retrying with every row conflict-checked", "attempt", attempt, "err", err)
			b.Safe = true
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
			continue
		}
		return fmt.Errorf("commit batch of %d records: %w", len(batch), err)
	}
	elapsed := time.Since(start)
	l.Metrics.LoaderBatches.WithLabelValues("committed").Inc()
	l.Metrics.LoaderBatchTime.Observe(elapsed.Seconds())
	l.Metrics.LoaderLastCommit.Set(float64(time.Now().UnixMilli()) / 1000)
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
// configured. yiwang never reads them back: DuckDB holds the truth.
func (l *Loader) committed(next map[string]map[int]int64) {
	if l.Group == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Client.CommitGroupOffsets(ctx, l.Group, next); err != nil {
		l.Log.Debug("commit group offsets (for lag tools only)", "err", err)
	}
}

// reportLag exports, every 5 s, the distance between the committed offsets
// and the high watermarks.
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
			parts, err := l.Client.Partitions(ctx, sc.Topic)
			if err != nil {
				continue
			}
			req[sc.Topic] = parts
		}
		offs, err := l.Client.PartitionOffsets(ctx, req)
		if err != nil {
			continue
		}
		stored, err := l.Store.Offsets(ctx)
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
