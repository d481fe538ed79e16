package queries

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/metrics"
)

// Refresher recomputes the indicators whose inputs have changed, besides
// their cron schedules: when the loader commits rows to a table, every
// query that reads the table runs again once the table has been quiet for
// Quiet, and at the latest MaxWait after the first change it has not yet
// run for, so that a stream that never pauses still refreshes. A run
// covers the periods from the earliest event time among the changed rows
// (the schema's event_time) to now — the history a fresh start loads
// gives every period of it, a live record the current period (and an
// older one, when it restates it). Cells of a period still running are
// provisional. Runs take the query's lock (Locks), so that a refresh and
// a scheduled run of one query never overlap.
type Refresher struct {
	DB      *sql.DB
	Catalog *Catalog
	Metrics *metrics.Metrics
	Log     *slog.Logger
	Locks   *QueryLocks
	// Quiet and MaxWait are the debounce (defaults 10 s and 50 s: a
	// change is in the cells within a minute).
	Quiet, MaxWait time.Duration
	// Now and Timer are the clock (defaults time.Now and a timer that
	// fires at the instant given); tests inject their own.
	Now   func() time.Time
	Timer func(at time.Time) <-chan time.Time
	// Ran, if set, is called after every refresh run of a query, with the
	// periods' start and the instant the run computed to.
	Ran func(query string, from, to time.Time, err error)

	idle func() // tests: called whenever Run waits

	mu      sync.Mutex
	wake    chan struct{}
	pending map[string]*dirty // by query name
}

// dirty is what a query has to catch up on.
type dirty struct {
	earliest    time.Time // of the changed rows' event times; zero if unknown
	first, last time.Time // when the first and the latest change since the last run arrived
}

// Changed tells the refresher that rows of table were committed, the
// earliest of them with event time earliest (zero if unknown: the current
// and the previous period then). It never blocks.
func (r *Refresher) Changed(table string, earliest time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = map[string]*dirty{}
	}
	now := r.now()
	for _, q := range r.Catalog.Queries() {
		if !slices.Contains(q.Inputs, table) {
			continue
		}
		d := r.pending[q.Name]
		if d == nil {
			d = &dirty{first: now}
			r.pending[q.Name] = d
		}
		if !earliest.IsZero() && (d.earliest.IsZero() || earliest.Before(d.earliest)) {
			d.earliest = earliest
		}
		d.last = now
	}
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Refresher) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Refresher) timer(at time.Time) <-chan time.Time {
	if r.Timer != nil {
		return r.Timer(at)
	}
	return time.After(time.Until(at))
}

func (r *Refresher) quiet() time.Duration {
	if r.Quiet > 0 {
		return r.Quiet
	}
	return 10 * time.Second
}

func (r *Refresher) maxWait() time.Duration {
	if r.MaxWait > 0 {
		return r.MaxWait
	}
	return 50 * time.Second
}

// Run refreshes until ctx ends.
func (r *Refresher) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
	}
	wake := r.wake
	r.mu.Unlock()
	for {
		now := r.now()
		due, next := r.due(now)
		for _, name := range due {
			r.refresh(ctx, name, now)
		}
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = r.timer(next)
		}
		if r.idle != nil {
			r.idle()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer:
		}
	}
}

// due lists the queries whose debounce has ended at now, and returns when
// the next one's ends (zero: none pending).
func (r *Refresher) due(now time.Time) (names []string, next time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, d := range r.pending {
		at := d.last.Add(r.quiet())
		if limit := d.first.Add(r.maxWait()); limit.Before(at) {
			at = limit
		}
		if !now.Before(at) {
			names = append(names, name)
			continue
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return names, next
}

// refresh runs one query over the periods its pending changes touch, to
// now.
func (r *Refresher) refresh(ctx context.Context, name string, now time.Time) {
	q, ok := r.Catalog.Get(name)
	if !ok {
		return
	}
	unlock := r.Locks.Lock(name)
	defer unlock()
	r.mu.Lock()
	d := r.pending[name]
	delete(r.pending, name)
	r.mu.Unlock()
	if d == nil {
		return
	}
	// The previous period at least, which late records may restate.
	from := RoundFrom(q, now)
	if !d.earliest.IsZero() && d.earliest.Before(from) {
		from = q.Period.Start(d.earliest, calendar.Zone)
	}
	runID := fmt.Sprintf("%s/refresh/%s", q.Name, now.In(calendar.Zone).Format("20060102T150405"))
	res, err := Run(ctx, r.DB, q, from, now, runID, now)
	if r.Ran != nil {
		r.Ran(name, from, now, err)
	}
	if err != nil {
		if ctx.Err() == nil {
			r.Metrics.QueryRuns.WithLabelValues(q.Name, "refresh", "error").Inc()
			r.Log.Error("indicator refresh failed", "query", q.Name, "run", runID, "err", err)
		}
		return
	}
	r.Metrics.QueryRuns.WithLabelValues(q.Name, "refresh", "ok").Inc()
	r.Log.Debug("indicator refreshed", "query", q.Name, "from", from, "periods", res.Periods, "inserted", res.Inserted, "updated", res.Updated)
}
