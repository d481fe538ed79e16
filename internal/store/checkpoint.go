package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// checkpointer writes the rows of the write-ahead log into the database
// file once the log holds any written Every ago, so that a slow stream
// does not keep them in memory until the log reaches the size threshold
// (at the demo's pace, 8 MiB took 10 to 35 minutes, and its rows held up
// to 45 MiB meanwhile). DuckDB's own checkpoint at the size threshold
// stays: this one only comes sooner.
//
// It runs a plain CHECKPOINT, which DuckDB refuses at once while another
// transaction has written, as its automatic checkpoint gives way; the
// checkpointer then tries again at its next look. It never runs FORCE
// CHECKPOINT: that waits for the writers while every new transaction
// waits behind it, deaf to its context, and a writer waiting on a lock
// another writer holds (the shared key filter) would never finish.
type checkpointer struct {
	wal   string        // the log's path
	every time.Duration // the longest a logged row waits

	file  os.FileInfo // the log when last looked at; nil: none
	dirty time.Time   // since when it holds rows not checkpointed; zero: empty
}

// due looks at the log at now and says whether it is time to checkpoint.
func (c *checkpointer) due(now time.Time) (bool, error) {
	fi, err := os.Stat(c.wal)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fi = nil
	case err != nil:
		return false, fmt.Errorf("write-ahead log: %w", err)
	}
	switch {
	case fi == nil || fi.Size() == 0:
		c.dirty = time.Time{}
	case c.dirty.IsZero() || c.file == nil || !os.SameFile(fi, c.file) || fi.Size() < c.file.Size():
		// First rows, or the log was checkpointed (removed or truncated)
		// since the last look and has new ones: they came after it.
		c.dirty = now
	}
	c.file = fi
	return !c.dirty.IsZero() && now.Sub(c.dirty) >= c.every, nil
}

// done records a checkpoint.
func (c *checkpointer) done() { c.file, c.dirty = nil, time.Time{} }

// writersActive reports DuckDB's refusal of a CHECKPOINT while another
// transaction has written.
func writersActive(err error) bool {
	return err != nil && strings.Contains(err.Error(), "other write transactions active")
}

// maybeCheckpoint checkpoints when c says it is time at now. It reports
// false, with no error, when writers were active: the rows wait for the
// next look.
func (s *Store) maybeCheckpoint(ctx context.Context, c *checkpointer, now time.Time) (bool, error) {
	due, err := c.due(now)
	if err != nil || !due {
		return false, err
	}
	if _, err := s.db.ExecContext(ctx, "CHECKPOINT"); writersActive(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("checkpoint: %w", classify(err))
	}
	c.done()
	return true, nil
}

// checkpointOnTime runs c until Close, looking at the log eight times per
// period (at least every 15 s), so that a checkpoint refused while writers
// were active is soon tried again.
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
	t := time.NewTicker(min(max(c.every/8, 100*time.Millisecond), 15*time.Second))
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			_, err := s.maybeCheckpoint(ctx, c, now)
			switch {
			case err != nil && ctx.Err() == nil && !failing:
				s.log.Warn("checkpoint on time failed; DuckDB's own at the size threshold remains", "err", err)
				failing = true
			case err == nil && failing:
				s.log.Info("checkpoint on time works again")
				failing = false
			}
		}
	}
}
