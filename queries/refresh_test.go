package queries

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"io"
	"log/slog"

	"github.com/yiwang-gov/yiwang/internal/calendar"
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
	ch := make(chan time.Time, 1)
	c.at, c.timer = at, ch
	if !at.After(c.now) { // due already
		ch <- c.now
		c.timer = nil
	}
	return ch
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

// refreshHarness runs a Refresher on the test's clock, moved only while
// the refresher waits, so that every instant asserted is exact.
type refreshHarness struct {
	t    *testing.T
	clk  *fakeClock
	r    *Refresher
	idle chan struct{}
	stop func() // stops the refresher and waits for it

	mu    sync.Mutex
	runs  map[string][]refreshRun // by query
	order []string                // "name from" of every run, in order
}

// startRefresher starts a refresher at now; hook, if set, is called after
// each run, before it is recorded.
func startRefresher(t *testing.T, e *env, now time.Time, hook func(name string, from time.Time)) *refreshHarness {
	t.Helper()
	h := &refreshHarness{t: t, clk: &fakeClock{now: now}, idle: make(chan struct{}, 1), runs: map[string][]refreshRun{}}
	h.r = &Refresher{DB: e.db, Catalog: e.cat, Metrics: metrics.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Locks: &QueryLocks{}, Quiet: 10 * time.Second, MaxWait: 50 * time.Second, Now: h.clk.Now, Timer: h.clk.Timer,
		Ran: func(name string, from, to time.Time, err error) {
			if hook != nil {
				hook(name, from)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			h.runs[name] = append(h.runs[name], refreshRun{from, to, err})
			h.order = append(h.order, name+" "+from.In(calendar.Zone).Format("2006-01-02"))
		}}
	h.r.idle = func() {
		select {
		case h.idle <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.r.Run(ctx) }()
	var once sync.Once
	h.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(h.stop)
	h.settle() // waiting before the first change
	return h
}

// startHeldRefresher starts a refresher at now in which a change of
// grid_events arrives right after the first recent run of
// event_ontime_closure_rate, which holds that indicator's older periods
// back until it has run again.
func startHeldRefresher(t *testing.T, e *env, now time.Time) *refreshHarness {
	t.Helper()
	var h *refreshHarness
	again := true
	h = startRefresher(t, e, now, func(name string, from time.Time) {
		if name == "event_ontime_closure_rate" && again {
			again = false
			h.r.Changed("grid_events", time.Time{})
		}
	})
	return h
}

// settle waits until the refresher waits again.
func (h *refreshHarness) settle() {
	h.t.Helper()
	select {
	case <-h.idle:
	case <-time.After(time.Minute):
		h.t.Fatal("the refresher did not come back to wait within a minute")
	}
}

// changed tells the refresher of a change and lets it act on it.
func (h *refreshHarness) changed(table string, earliest time.Time) {
	h.t.Helper()
	h.r.Changed(table, earliest)
	h.settle()
}

// advance moves the clock and lets the refresher run what fell due.
func (h *refreshHarness) advance(d time.Duration) {
	h.t.Helper()
	if h.clk.Advance(d) {
		h.settle()
	}
}

// take returns and forgets the runs of name so far.
func (h *refreshHarness) take(name string) []refreshRun {
	h.mu.Lock()
	defer h.mu.Unlock()
	runs := h.runs[name]
	delete(h.runs, name)
	return runs
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
	h := startRefresher(t, e, sh(2026, 3, 15, 12, 0), nil)
	clk, r, changed := h.clk, h.r, h.changed
	// waitRun moves the clock a second at a time, calling change before
	// each second, until event_ontime_closure_rate has run.
	waitRun := func(what string, change func()) refreshRun {
		t.Helper()
		for range 120 {
			if change != nil {
				change()
			}
			h.advance(time.Second)
			if runs := h.take("event_ontime_closure_rate"); len(runs) > 0 {
				if runs[0].err != nil {
					t.Fatalf("%s: %v", what, runs[0].err)
				}
				return runs[0]
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

// TestRefreshRecentPeriodsFirst: rows reaching months back (a fresh
// start's history) refresh every query's current and previous periods
// first; the older periods follow, once per query, after no query is due
// and while its inputs have no change pending.
func TestRefreshRecentPeriodsFirst(t *testing.T) {
	e := newEnv(t)
	h := startHeldRefresher(t, e, sh(2026, 3, 15, 12, 0))
	cell := func(month time.Month, year int) (num, den float64, ok bool) {
		t.Helper()
		err := e.db.QueryRow(`SELECT numerator, denominator FROM indicator_values_public
WHERE name = 'event_ontime_closure_rate' AND area_code = ? AND period_start = ?`, gridA1, sh(year, month, 1, 0, 0)).Scan(&num, &den)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, 0, false
		}
		if err != nil {
			t.Fatal(err)
		}
		return num, den, true
	}
	for i := range 6 { // cells of fewer events are suppressed
		closed := sh(2025, 12, 9+i, 10, 0)
		e.event(t, fmt.Sprintf("D%d", i), gridA1, sh(2025, 12, 9+i, 17, 30), &closed)
		closed = sh(2026, 3, 2+i, 10, 0)
		e.event(t, fmt.Sprintf("M%d", i), gridA1, sh(2026, 3, 2+i, 17, 30), &closed)
	}
	e.event(t, "D9", gridA1, sh(2025, 12, 22, 17, 30), nil)
	h.changed("grid_events", sh(2025, 12, 7, 9, 0))

	h.advance(10 * time.Second) // quiet: every recent run, the change from the hook, no backfill
	runs := h.take("event_ontime_closure_rate")
	if len(runs) != 1 || !runs[0].from.Equal(sh(2026, 2, 1, 0, 0)) {
		t.Fatalf("after 10 s: runs %v, want one from 2026-02-01 (the previous period)", runs)
	}
	if _, _, ok := cell(time.December, 2025); ok {
		t.Fatal("December computed while a change of its input was pending")
	}
	if num, den, ok := cell(time.March, 2026); !ok || num != 6 || den != 6 {
		t.Fatalf("March: %v/%v (stored %t), want 6/6", num, den, ok)
	}
	h.mu.Lock()
	order := slices.Clone(h.order)
	h.mu.Unlock()
	// Every query's recent run comes before any run of older periods.
	backfills := 0
	for _, o := range order {
		name, from, _ := strings.Cut(o, " ")
		recent := RoundFrom(e.query(t, name), sh(2026, 3, 15, 12, 0).Add(10*time.Second)).In(calendar.Zone).Format("2006-01-02")
		switch {
		case from != recent:
			backfills++
		case backfills > 0:
			t.Errorf("recent run %q after a run of older periods: %v", o, order)
		}
	}
	if backfills == len(order) {
		t.Fatalf("no recent run: %v", order)
	}

	h.advance(10 * time.Second) // the hook's change is quiet: its recent run, then the older periods
	runs = h.take("event_ontime_closure_rate")
	if len(runs) != 2 || !runs[0].from.Equal(sh(2026, 2, 1, 0, 0)) || !runs[1].from.Equal(sh(2025, 12, 1, 0, 0)) {
		t.Fatalf("after 20 s: runs %v, want from 2026-02-01 then from 2025-12-01", runs)
	}
	if num, den, ok := cell(time.December, 2025); !ok || num != 6 || den != 7 {
		t.Fatalf("December: %v/%v (stored %t), want 6/7", num, den, ok)
	}
	h.advance(time.Hour)
	if runs := h.take("event_ontime_closure_rate"); len(runs) != 0 {
		t.Fatalf("runs without a change: %v", runs)
	}
}

// TestRefreshBacklogSurvivesRestart: older periods owed when the
// refresher stops are in indicator_backlog, and the next refresher
// computes them, then forgets them.
func TestRefreshBacklogSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	h := startHeldRefresher(t, e, sh(2026, 3, 15, 12, 0))
	for i := range 6 {
		closed := sh(2025, 12, 9+i, 10, 0)
		e.event(t, fmt.Sprintf("D%d", i), gridA1, sh(2025, 12, 9+i, 17, 30), &closed)
	}
	e.event(t, "D9", gridA1, sh(2025, 12, 22, 17, 30), nil)
	h.changed("grid_events", sh(2025, 12, 7, 9, 0))
	h.advance(10 * time.Second) // recent runs; this query's older periods still owed
	h.stop()

	owed := func() (from time.Time, n int) {
		t.Helper()
		if err := e.db.QueryRow(`SELECT count(*) FROM indicator_backlog WHERE name = 'event_ontime_closure_rate'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			if err := e.db.QueryRow(`SELECT from_start FROM indicator_backlog WHERE name = 'event_ontime_closure_rate'`).Scan(&from); err != nil {
				t.Fatal(err)
			}
		}
		return from, n
	}
	if from, n := owed(); n != 1 || !from.Equal(sh(2025, 12, 1, 0, 0)) {
		t.Fatalf("backlog after the stop: %d rows from %v, want one from 2025-12-01", n, from)
	}
	var december int
	if err := e.db.QueryRow(`SELECT count(*) FROM indicator_values WHERE name = 'event_ontime_closure_rate' AND period_start = ?`, sh(2025, 12, 1, 0, 0)).Scan(&december); err != nil {
		t.Fatal(err)
	}
	if december != 0 {
		t.Fatalf("December has %d cells before the restart", december)
	}
	// A row of a query the catalog no longer has is dropped.
	if _, err := e.db.Exec(`INSERT INTO indicator_backlog VALUES ('gone_indicator', ?, ?)`, sh(2025, 1, 1, 0, 0), sh(2026, 3, 1, 0, 0)); err != nil {
		t.Fatal(err)
	}

	h2 := startRefresher(t, e, sh(2026, 3, 15, 12, 5), nil) // no change: only what it owes
	runs := h2.take("event_ontime_closure_rate")
	if len(runs) != 1 || !runs[0].from.Equal(sh(2025, 12, 1, 0, 0)) || runs[0].err != nil {
		t.Fatalf("after the restart: runs %v, want one from 2025-12-01", runs)
	}
	var num, den float64
	if err := e.db.QueryRow(`SELECT numerator, denominator FROM indicator_values_public
WHERE name = 'event_ontime_closure_rate' AND area_code = ? AND period_start = ?`, gridA1, sh(2025, 12, 1, 0, 0)).Scan(&num, &den); err != nil {
		t.Fatal(err)
	}
	if num != 6 || den != 7 {
		t.Fatalf("December: %v/%v, want 6/7", num, den)
	}
	if _, n := owed(); n != 0 {
		t.Fatal("the backlog still holds the periods computed")
	}
	var left int
	if err := e.db.QueryRow(`SELECT count(*) FROM indicator_backlog`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d backlog rows left, want none (the unknown query's dropped)", left)
	}
}
