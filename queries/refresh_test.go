package queries

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"io"
	"log/slog"

	"github.com/yiwang-gov/yiwang/internal/metrics"
)

// fakeClock is a clock the test moves. It keeps one timer, the latest
// asked for, as the refresher waits on one at a time.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	at    time.Time
	timer chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Timer(at time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at, c.timer = at, make(chan time.Time, 1)
	return c.timer
}

// Advance moves the clock and reports whether the timer fired.
func (c *fakeClock) Advance(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	if c.timer == nil || c.at.After(c.now) {
		return false
	}
	c.timer <- c.now
	c.timer = nil
	return true
}

type refreshRun struct {
	from, at time.Time
	err      error
}

// TestRefreshAfterNewInput: rows committed to a table make every query
// that reads it run again once the table has been quiet for Quiet, or at
// the latest MaxWait after the first change of a stream that never
// pauses; the run covers the periods from the earliest changed event, and
// the current period's cells are provisional and change with the input.
// The clock is the test's, moved a second at a time and only while the
// refresher waits, so every instant asserted is exact.
func TestRefreshAfterNewInput(t *testing.T) {
	e := newEnv(t)
	clk := &fakeClock{now: sh(2026, 3, 15, 12, 0)}
	var runs []refreshRun // of event_ontime_closure_rate
	var mu sync.Mutex
	idle := make(chan struct{}, 1)
	r := &Refresher{DB: e.db, Catalog: e.cat, Metrics: metrics.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Locks: &QueryLocks{}, Quiet: 10 * time.Second, MaxWait: 50 * time.Second, Now: clk.Now, Timer: clk.Timer,
		Ran: func(name string, from, to time.Time, err error) {
			if name == "event_ontime_closure_rate" {
				mu.Lock()
				runs = append(runs, refreshRun{from, to, err})
				mu.Unlock()
			}
		}}
	r.idle = func() {
		select {
		case idle <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	settle := func() {
		t.Helper()
		select {
		case <-idle:
		case <-time.After(time.Minute):
			t.Fatal("the refresher did not come back to wait within a minute")
		}
	}
	settle() // waiting before the first change
	changed := func(table string, earliest time.Time) {
		r.Changed(table, earliest)
		settle()
	}
	// waitRun moves the clock a second at a time, calling change before
	// each second, until the query has run.
	waitRun := func(what string, change func()) refreshRun {
		t.Helper()
		for range 120 {
			if change != nil {
				change()
			}
			if clk.Advance(time.Second) {
				settle()
			}
			mu.Lock()
			n := len(runs)
			mu.Unlock()
			if n > 0 {
				mu.Lock()
				defer mu.Unlock()
				run := runs[0]
				runs = runs[1:]
				if run.err != nil {
					t.Fatalf("%s: %v", what, run.err)
				}
				return run
			}
		}
		t.Fatalf("%s: no refresh after two minutes of the test's clock", what)
		return refreshRun{}
	}
	cell := func() (num, den float64, provisional bool) {
		t.Helper()
		if err := e.db.QueryRow(`SELECT numerator, denominator, provisional FROM indicator_values_public
WHERE name = 'event_ontime_closure_rate' AND area_code = ? AND period_start = ?`, gridA1, sh(2026, 3, 1, 0, 0)).Scan(&num, &den, &provisional); err != nil {
			t.Fatal(err)
		}
		return num, den, provisional
	}

	// Six events due and closed on time in March.
	for i := range 6 {
		closed := sh(2026, 3, 2+i, 10, 0)
		e.event(t, fmt.Sprintf("A%d", i), gridA1, sh(2026, 3, 2+i, 17, 30), &closed)
	}
	changedAt := clk.Now()
	changed("grid_events", sh(2026, 2, 28, 9, 0))
	run := waitRun("first load", nil)
	if d := run.at.Sub(changedAt); d != 10*time.Second {
		t.Errorf("ran %v after the change, want once the table was quiet for 10 s", d)
	}
	if want := sh(2026, 2, 1, 0, 0); !run.from.Equal(want) {
		t.Errorf("ran from %v, want %v (the period of the earliest changed event)", run.from, want)
	}
	if num, den, prov := cell(); num != 6 || den != 6 || !prov {
		t.Fatalf("March at %s: %v/%v provisional %t, want 6/6 provisional", gridA1, num, den, prov)
	}

	// A seventh event, overdue, in a stream that never pauses for 10 s:
	// the run comes at the latest 50 s after its first change.
	e.event(t, "A9", gridA1, sh(2026, 3, 10, 17, 30), nil)
	first := clk.Now()
	tick := 0
	run = waitRun("busy stream", func() {
		if tick%5 == 0 {
			changed("grid_events", time.Time{})
		}
		tick++
	})
	if d := run.at.Sub(first); d != 50*time.Second {
		t.Errorf("ran %v after the first change of a busy stream, want 50 s (MaxWait)", d)
	}
	if want := sh(2026, 2, 1, 0, 0); !run.from.Equal(want) {
		t.Errorf("a live change ran from %v, want the previous period's start %v", run.from, want)
	}
	if num, den, prov := cell(); num != 6 || den != 7 || !prov {
		t.Fatalf("March at %s after the overdue event: %v/%v provisional %t, want 6/7 provisional", gridA1, num, den, prov)
	}

	// A table no indicator reads here changes nothing.
	changed("no_such_table", time.Time{})
	if names, _ := r.due(clk.Now().Add(time.Hour)); len(names) != 0 {
		t.Errorf("due after a change of an unread table: %v", names)
	}
}
