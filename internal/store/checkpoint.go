package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// checkpointer writes the rows of the write-ahead log into the database
// file once the log holds any written Every ago, so that a slow stream
// does not keep them in memory until the log reaches the size threshold
// (at the demo's pace, 8 MiB took 10 to 35 minutes, and its rows held up
// to 45 MiB meanwhile). DuckDB's own checkpoint at the size threshold
// stays: this one only comes sooner.
//
// It runs FORCE CHECKPOINT, which waits for the checkpoint lock (DuckDB
// 1.4 and later; before, it aborted running transactions): writers take
// that lock shared as they start to write, so it runs between their
// transactions, and new ones wait while it runs, as they do behind an
// automatic checkpoint.
type checkpointer struct {
	wal   string        // the log's path
	every time.Duration // the longest a logged row waits

	size  int64     // of the log when last looked at
	dirty time.Time // since when it holds rows not checkpointed; zero: empty
}

// due looks at the log at now and says whether it is time to checkpoint.
func (c *checkpointer) due(now time.Time) (bool, error) {
	size, err := fileSize(c.wal)
	if err != nil {
		return false, err
	}
	switch {
	case size == 0:
		c.dirty = time.Time{}
	case c.dirty.IsZero() || size < c.size:
		// First rows, or the log was checkpointed (and truncated) since
		// the last look and has new ones: they came after it.
		c.dirty = now
	}
	c.size = size
	return !c.dirty.IsZero() && now.Sub(c.dirty) >= c.every, nil
}

// done records a checkpoint that ended at now.
func (c *checkpointer) done() { c.size, c.dirty = 0, time.Time{} }

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("write-ahead log: %w", err)
	}
	return fi.Size(), nil
}

// maybeCheckpoint checkpoints when c says it is time at now.
func (s *Store) maybeCheckpoint(ctx context.Context, c *checkpointer, now time.Time) (bool, error) {
	due, err := c.due(now)
	if err != nil || !due {
		return false, err
	}
	if _, err := s.db.ExecContext(ctx, "FORCE CHECKPOINT"); err != nil {
		return false, fmt.Errorf("checkpoint: %w", classify(err))
	}
	c.done()
	return true, nil
}

// checkpointOnTime runs c until Close, looking at the log four times per
// period.
func (s *Store) checkpointOnTime(c *checkpointer) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(max(c.every/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if _, err := s.maybeCheckpoint(ctx, c, now); err != nil && ctx.Err() == nil {
				s.log.Warn("checkpoint on time failed; DuckDB's own at the size threshold remains", "err", err)
			}
		}
	}
}
