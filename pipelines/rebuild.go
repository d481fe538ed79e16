package pipelines

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"time"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/loader"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/reference"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/queries"
	"github.com/yiwang-gov/yiwang/schemas"
)

// TableDigest is one table of a rebuilt database: its rows and the hash
// sum of store.DigestSQL.
type TableDigest struct {
	Table string
	Rows  int64
	Sum   string
}

// RebuildResult is what Rebuild made.
type RebuildResult struct {
	Tables []TableDigest
	// DeadLetters counts the records the loader refused again; they are
	// in the dead-letter topic already and are not written twice.
	DeadLetters int
	Took        time.Duration
}

// Rebuild builds a fresh database at out from the log and the reference
// data of cfg, while the live one keeps serving: it creates every table,
// loads the reference data and the calendar, and loads every record topic
// from its log start up to the high watermarks it found when it began.
// Its loader commits no group offsets and writes no dead letters (those
// are in the topic already). What retention has deleted is not in the log
// any more, and so not in the rebuilt tables: the loader reports it as
// skipped. Indicators are computed by the first serve on the new file (the
// scheduler catches up at start).
func Rebuild(ctx context.Context, cfg *Config, out string, opts Options) (RebuildResult, error) {
	start := time.Now()
	var res RebuildResult
	if _, err := os.Stat(out); err == nil {
		return res, fmt.Errorf("%s exists: rebuild makes a new database; remove it or name another", out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	if opts.Log == nil {
		return res, errors.New("rebuild: no logger")
	}
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		return res, err
	}
	brokers := cfg.Kafka.Brokers
	if len(brokers) == 0 { // the embedded broker of a running yiwang run
		brokers = []string{cfg.Kafka.Embedded.Listen}
	}
	client := kafka.NewClient(brokers)
	defer client.Close()

	st, err := store.Open(ctx, out, store.Options{})
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := st.MigrateSchemas(ctx, reg); err != nil {
		return res, err
	}
	areas, err := reference.Load(ctx, referenceFiles(cfg), st)
	if err != nil {
		return res, err
	}
	if _, err := reference.LoadCalendar(ctx, referenceFiles(cfg), st); err != nil {
		return res, err
	}
	catalog, err := queries.LoadEmbedded(reg)
	if err != nil {
		return res, err
	}
	if err := queries.Migrate(ctx, st); err != nil {
		return res, err
	}
	if err := queries.SyncThresholds(ctx, st.DB(), catalog); err != nil {
		return res, err
	}

	targets := map[string][]int{}
	for _, sc := range reg.All() {
		parts, err := client.Partitions(ctx, sc.Topic)
		if err != nil {
			return res, fmt.Errorf("rebuild from %v: %w", brokers, err)
		}
		targets[sc.Topic] = parts
	}
	ends, err := client.PartitionOffsets(ctx, targets)
	if err != nil {
		return res, err
	}
	var dead counter
	ld := &loader.Loader{Log: client, Tables: loader.DuckDB(st), Registry: reg, Areas: areas, Producer: &dead, Metrics: metrics.New(),
		BatchSize: cfg.Loader.BatchSize, BatchWait: cfg.Loader.BatchWait, Writers: cfg.Loader.Writers, Now: time.Now, Logger: opts.Log}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ld.Run(lctx) }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for reached := false; !reached; {
		select {
		case err := <-done:
			stop()
			if err == nil {
				err = ctx.Err()
			}
			return res, fmt.Errorf("rebuild stopped before it reached the log's end: %w", err)
		case <-tick.C:
		}
		next, err := st.Offsets(ctx)
		if err != nil {
			stop()
			<-done
			return res, err
		}
		reached = true
		for topic, ps := range ends {
			for p, o := range ps {
				if o.Next > o.First && next[topic][p] < o.Next {
					reached = false
				}
			}
		}
	}
	stop()
	if err := <-done; err != nil {
		return res, err
	}
	for _, sc := range reg.All() {
		rows, sum, err := st.Digest(ctx, sc.Table)
		if err != nil {
			return res, err
		}
		res.Tables = append(res.Tables, TableDigest{Table: sc.Table, Rows: rows, Sum: sum})
	}
	res.DeadLetters = int(dead.n.Load())
	res.Took = time.Since(start)
	return res, nil
}

// counter counts the dead letters a rebuild's loader would write.
type counter struct{ n atomic.Int64 }

func (c *counter) Write(_ context.Context, msgs ...kafka.Message) error {
	c.n.Add(int64(len(msgs)))
	return nil
}
