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
// run for, so that a stream that never pauses still refreshes. That run
// covers the current and the previous period. When the changed rows reach
// further back (the schema's event_time) — the history a fresh start
// loads, a late record restating an old period — a second run covers the
// periods from the earliest of them to now, once no query is due and its
// own inputs have no change pending (or after 5 × MaxWait at the latest):
// a district's history loads oldest first, so every indicator's current
// cells come first, and the older periods are computed once, when their
// input has stopped changing, instead of again at every MaxWait of the
// load. The older periods owed are kept in indicator_backlog until their
// run succeeds, so that a restart computes them too; a change the loader
// committed in the debounce before a stop is not (the next change or the
// schedule computes its recent periods). Cells of a period still running
// are provisional. Runs take the query's lock (Locks), so that a refresh
// and a scheduled run of one query never overlap.
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

	mu       sync.Mutex
	wake     chan struct{}
	pending  map[string]*dirty   // by query name
	backfill map[string]*backlog // by query name
}

// backlog is the older periods a query has still to compute.
type backlog struct {
	from  time.Time // the earliest period's start
	since time.Time // when it was first owed
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
	r.loadBacklog(ctx)
	for ctx.Err() == nil {
		now := r.now()
		due, next := r.due(now)
		for _, name := range due {
			r.refresh(ctx, name, now)
		}
		// With queries due, only a backfill owed 5 × MaxWait runs: rounds
		// longer than MaxWait must not starve the older periods.
		if name := r.nextBackfill(now, len(due) > 0); name != "" {
			r.runBackfill(ctx, name, now)
			continue
		}
		if len(due) > 0 {
			continue // more may have come meanwhile
		}
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = r.timer(next)
		}
		if r.idle != nil && len(wake) == 0 {
			r.idle() // tests: about to wait, with nothing to do
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer:
		}
	}
	return nil
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

// nextBackfill returns the query whose older periods to compute next at
// now ("" for none): the one owed longest whose inputs have no change
// pending, or that has waited 5 × MaxWait; only the latter if overdueOnly.
func (r *Refresher) nextBackfill(now time.Time, overdueOnly bool) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	best := ""
	for name, b := range r.backfill {
		overdue := now.Sub(b.since) >= 5*r.maxWait()
		if _, busy := r.pending[name]; !overdue && (busy || overdueOnly) {
			continue
		}
		if o := r.backfill[best]; best == "" || b.since.Before(o.since) || (b.since.Equal(o.since) && name < best) {
			best = name
		}
	}
	return best
}

// refresh runs one query over the current and the previous period for
// its pending changes, and owes the older periods they touch.
func (r *Refresher) refresh(ctx context.Context, name string, now time.Time) {
	r.mu.Lock()
	d := r.pending[name]
	delete(r.pending, name)
	r.mu.Unlock()
	q, ok := r.Catalog.Get(name)
	if !ok || d == nil {
		return
	}
	unlock := r.Locks.Lock(name)
	defer unlock()
	from := RoundFrom(q, now)
	if !d.earliest.IsZero() && d.earliest.Before(from) {
		r.owe(ctx, name, q.Period.Start(d.earliest, calendar.Zone), now)
	}
	_ = r.run(ctx, q, "refresh", from, now) // logged and counted
}

// runBackfill runs one query over the older periods it owes, to now.
func (r *Refresher) runBackfill(ctx context.Context, name string, now time.Time) {
	r.mu.Lock()
	b := r.backfill[name]
	delete(r.backfill, name)
	r.mu.Unlock()
	q, ok := r.Catalog.Get(name)
	if !ok || b == nil {
		return
	}
	unlock := r.Locks.Lock(name)
	defer unlock()
	if r.run(ctx, q, "backfill", b.from, now) != nil {
		return // owed still in indicator_backlog: the next start runs it
	}
	// Only this goroutine owes (refresh), so nothing was owed meanwhile.
	if _, err := r.DB.ExecContext(ctx, "DELETE FROM indicator_backlog WHERE name = ?", name); err != nil && ctx.Err() == nil {
		r.Log.Warn("indicator backlog not updated: a restart will compute these periods again", "query", name, "err", err)
	}
}

// owe records that name's periods from from have still to be computed, in
// memory and in indicator_backlog.
func (r *Refresher) owe(ctx context.Context, name string, from, now time.Time) {
	r.mu.Lock()
	if r.backfill == nil {
		r.backfill = map[string]*backlog{}
	}
	b := r.backfill[name]
	if b == nil {
		b = &backlog{from: from, since: now}
		r.backfill[name] = b
	} else if from.Before(b.from) {
		b.from = from
	}
	from, since := b.from, b.since
	r.mu.Unlock()
	if _, err := r.DB.ExecContext(ctx, `INSERT INTO indicator_backlog VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET from_start = least(indicator_backlog.from_start, excluded.from_start)`, name, from, since); err != nil && ctx.Err() == nil {
		r.Log.Warn("indicator backlog not saved: a restart before its run would leave these periods as they are", "query", name, "from", from, "err", err)
	}
}

// loadBacklog takes up the older periods owed before a restart. Those of
// queries no longer in the catalog are dropped.
func (r *Refresher) loadBacklog(ctx context.Context) {
	owed, err := r.readBacklog(ctx)
	if err != nil {
		r.Log.Warn("indicator backlog not read: periods owed before the restart stay as they are", "err", err)
		return
	}
	var gone []string
	r.mu.Lock()
	for name, b := range owed {
		if _, ok := r.Catalog.Get(name); !ok {
			gone = append(gone, name)
			continue
		}
		if r.backfill == nil {
			r.backfill = map[string]*backlog{}
		}
		r.backfill[name] = b
	}
	n := len(r.backfill)
	r.mu.Unlock()
	if n > 0 {
		r.Log.Info("indicator periods owed before the restart will be computed", "queries", n)
	}
	for _, name := range gone {
		_, _ = r.DB.ExecContext(ctx, "DELETE FROM indicator_backlog WHERE name = ?", name)
	}
}

func (r *Refresher) readBacklog(ctx context.Context) (map[string]*backlog, error) {
	rows, err := r.DB.QueryContext(ctx, "SELECT name, from_start, owed_since FROM indicator_backlog")
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	owed := map[string]*backlog{}
	for rows.Next() {
		var name string
		var b backlog
		if err := rows.Scan(&name, &b.from, &b.since); err != nil {
			return nil, err
		}
		owed[name] = &b
	}
	return owed, rows.Err()
}

// run computes q's periods from from to now (the query's lock held); kind
// names the run in its ID. A failure is logged and counted, and returned.
func (r *Refresher) run(ctx context.Context, q *Query, kind string, from, now time.Time) error {
	runID := fmt.Sprintf("%s/%s/%s", q.Name, kind, now.In(calendar.Zone).Format("20060102T150405"))
	res, err := Run(ctx, r.DB, q, from, now, runID, now)
	if r.Ran != nil {
		r.Ran(q.Name, from, now, err)
	}
	if err != nil {
		if ctx.Err() == nil {
			r.Metrics.QueryRuns.WithLabelValues(q.Name, "refresh", "error").Inc()
			r.Log.Error("indicator refresh failed", "query", q.Name, "run", runID, "err", err)
		}
		return err
	}
	r.Metrics.QueryRuns.WithLabelValues(q.Name, "refresh", "ok").Inc()
	r.Log.Debug("indicator refreshed", "query", q.Name, "run", runID, "from", from, "periods", res.Periods, "inserted", res.Inserted, "updated", res.Updated)
	return nil
}
