package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"
	"time"
)

// A WAL that holds rows written Every ago is checkpointed, whatever its
// size; an empty one, or rows younger than that, is left alone.
func TestCheckpointOnTime(t *testing.T) {
	ctx, s, ev := openEvents(t)
	c := &checkpointer{wal: s.Path() + ".wal", every: 2 * time.Minute}
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	wal := func() int64 {
		t.Helper()
		n, err := fileSize(c.wal)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	write := func(id string) {
		t.Helper()
		rows := [][]any{eventRow(ev, id, "reported", t0)}
		if err := s.Apply(ctx, Batch{Tables: []TableRows{{ev, rows}}}); err != nil {
			t.Fatal(err)
		}
	}
	// The migrations leave a log: checkpointed once it is 2 minutes old.
	if ran, err := s.maybeCheckpoint(ctx, c, t0); err != nil || ran {
		t.Fatalf("a log just seen checkpointed: %v %v", ran, err)
	}
	if ran, err := s.maybeCheckpoint(ctx, c, t0.Add(2*time.Minute)); err != nil || !ran {
		t.Fatalf("the migrations' log not checkpointed: %v %v", ran, err)
	}
	if wal() != 0 {
		t.Fatalf("WAL %d bytes after a checkpoint, want 0", wal())
	}
	if ran, err := s.maybeCheckpoint(ctx, c, t0.Add(time.Hour)); err != nil || ran {
		t.Fatalf("empty WAL checkpointed: %v %v", ran, err)
	}

	t1 := t0.Add(2 * time.Hour)
	write("E1")
	if ran, err := s.maybeCheckpoint(ctx, c, t1); err != nil || ran {
		t.Fatalf("rows just written checkpointed: %v %v", ran, err)
	}
	write("E2")
	if ran, err := s.maybeCheckpoint(ctx, c, t1.Add(119*time.Second)); err != nil || ran {
		t.Fatalf("rows 1m59s old checkpointed: %v %v", ran, err)
	}
	before := wal()
	if before == 0 {
		t.Fatal("no WAL after two writes")
	}
	ran, err := s.maybeCheckpoint(ctx, c, t1.Add(2*time.Minute))
	if err != nil || !ran {
		t.Fatalf("rows 2m old not checkpointed: %v %v", ran, err)
	}
	if n := wal(); n != 0 {
		t.Fatalf("WAL %d bytes after the checkpoint (%d before), want 0", n, before)
	}
	var n int
	if err := s.DB().QueryRowContext(ctx, "SELECT count(*) FROM grid_events").Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows after the checkpoint: %d %v", n, err)
	}

	// A log checkpointed by DuckDB between two looks (smaller than
	// before) holds rows written after the first look: their clock starts
	// at the second.
	t2 := t1.Add(time.Hour)
	for i := range 20 {
		write(fmt.Sprintf("F%d", i))
	}
	if _, err := c.due(t2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	write("G1")
	if ran, err := s.maybeCheckpoint(ctx, c, t2.Add(3*time.Minute)); err != nil || ran {
		t.Fatalf("rows written after DuckDB's checkpoint checkpointed at once: %v %v", ran, err)
	}
	if ran, err := s.maybeCheckpoint(ctx, c, t2.Add(5*time.Minute)); err != nil || !ran {
		t.Fatalf("rows 2m old not checkpointed: %v %v", ran, err)
	}
}

// A checkpoint due while a writer's transaction is open gives way at once,
// holds up no other connection, and comes at the next look after the
// commit.
func TestCheckpointGivesWayToWriters(t *testing.T) {
	ctx, s, ev := openEvents(t)
	c := &checkpointer{wal: s.Path() + ".wal", every: time.Minute}
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	if err := s.Apply(ctx, Batch{Tables: []TableRows{{ev, [][]any{eventRow(ev, "E1", "reported", t0)}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.due(t0); err != nil {
		t.Fatal(err)
	}
	// A writer in the middle of its transaction, as the loader's are: an
	// upsert of a stored key (ON CONFLICT ... DO UPDATE) that takes
	// DuckDB's checkpoint lock.
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO kv VALUES (1, 1) ON CONFLICT (k) DO UPDATE SET v = excluded.v`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		ran bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		ran, err := s.maybeCheckpoint(ctx, c, t0.Add(time.Minute))
		done <- result{ran, err}
	}()
	read := make(chan error, 1)
	go func() {
		var n int
		read <- s.DB().QueryRowContext(ctx, "SELECT count(*) FROM grid_events").Scan(&n)
	}()
	for _, wait := range []func() error{
		func() error {
			r := <-done
			if r.ran || r.err != nil {
				return fmt.Errorf("checkpoint with a writer active: ran %v, err %v; want it to give way", r.ran, r.err)
			}
			return nil
		},
		func() error { return <-read },
	} {
		errc := make(chan error, 1)
		go func() { errc <- wait() }()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute): // a failure's bound, not a timing
			t.Fatal("blocked behind the writer's transaction")
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if ran, err := s.maybeCheckpoint(ctx, c, t0.Add(time.Minute+15*time.Second)); err != nil || !ran {
		t.Fatalf("checkpoint after the commit: ran %v, err %v", ran, err)
	}
	if n, _ := fileSize(c.wal); n != 0 {
		t.Fatalf("WAL %d bytes after the checkpoint", n)
	}
}

// The store's own checkpointer runs until Close, which waits for it.
func TestCheckpointEveryEmptiesTheWAL(t *testing.T) {
	ctx, s, ev := openEvents(t)
	_ = s.Close()
	s, err := Open(ctx, s.Path(), Options{Threads: 2, CheckpointEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	rows := [][]any{eventRow(ev, "E1", "reported", time.Now())}
	if err := s.Apply(ctx, Batch{Tables: []TableRows{{ev, rows}}}); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute) // a failure's bound, not a timing
	defer cancel()
	for {
		n, err := fileSize(s.Path() + ".wal")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		select {
		case <-wait.Done():
			t.Fatal("WAL not checkpointed in a minute")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// fileSize is the size of the file at path, 0 if there is none.
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
