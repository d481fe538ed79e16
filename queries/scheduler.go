package queries

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"

	"github.com/robfig/cron/v3"

	"github.com/yiwang-gov/yiwang/internal/metrics"
)

// Scheduler runs the indicator queries on their cron schedules (Asia/
// Shanghai). Each query has a goroutine per mode, and every run of a query
// — normal, emergency or asked for through the API — holds the query's lock
// (Locks), so that two runs of one query never overlap (they would write
// the same cells); a failing query is logged and counted and does not stop the
// others. At start every query catches up: it computes the previous and the
// current period, which covers runs missed while the process was down.
//
// Modes: when at least one area is in emergency mode (the area_modes
// table, set by `yiwang mode` or the API), every query also runs on its
// emergency schedule — at once when the switch is seen, then by its
// emergency cron — with run ids naming the mode, and emergency-only queries
// start; when the last area switches back, the emergency runs stop.
type Scheduler struct {
	DB      *sql.DB
	Catalog *Catalog
	Metrics *metrics.Metrics
	Log     *slog.Logger
	Now     func() time.Time
	// ModePoll is how often the area modes are read (default 15 s).
	ModePoll time.Duration
	// Locks serialise the runs of each query; nil makes the scheduler's
	// own. Share it with whatever else runs
	Locks *QueryLocks
	// Ran, if set, is called after each run of a query with when it began
	// and ended (tests).
	Ran func(name string, mode Mode, began, ended time.Time)
}

// QueryLocks holds one lock per query name.
type QueryLocks struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

// Lock waits until no other run of the query named holds its lock, takes
// it, and returns its release.
func (l *QueryLocks) Lock(name string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*sync.Mutex{}
	}
	q := l.m[name]
	if q == nil {
		q = &sync.Mutex{}
		l.m[name] = q
	}
	l.mu.Unlock()
	q.Lock()
	return q.Unlock
}

// Run schedules every query until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.Locks == nil {
		s.Locks = &QueryLocks{}
	}
	var wg sync.WaitGroup
	if err := s.start(ctx, &wg, Normal); err != nil {
		return err
	}
	poll := s.ModePoll
	if poll <= 0 {
		poll = 15 * time.Second
	}
	var stopEmergency context.CancelFunc
	var ewg sync.WaitGroup
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		n, err := EmergencyAreas(ctx, s.DB)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				s.Log.Warn("read area modes", "err", err)
			}
		case n > 0 && stopEmergency == nil:
			ectx, cancel := context.WithCancel(ctx)
			stopEmergency = cancel
			s.Log.Info("emergency schedules start", "areas", n)
			if err := s.start(ectx, &ewg, Emergency); err != nil {
				cancel()
				return err
			}
		case n == 0 && stopEmergency != nil:
			s.Log.Info("emergency schedules stop")
			stopEmergency()
			ewg.Wait()
			stopEmergency = nil
		}
		select {
		case <-ctx.Done():
			if stopEmergency != nil {
				stopEmergency()
			}
			ewg.Wait()
			wg.Wait()
			return nil
		case <-t.C:
		}
	}
}

// start runs every query that has a schedule in mode, each in its own
// goroutine, until ctx ends. The rules' first runs wait for the
// indicators' first runs: on a fresh start the indicators are what a
// dashboard shows first, and the rules would compete with them for the
// database.
func (s *Scheduler) start(ctx context.Context, wg *sync.WaitGroup, mode Mode) error {
	var indicators sync.WaitGroup
	indicatorsFirst := make(chan struct{})
	for _, q := range s.Catalog.Queries() {
		spec := q.Schedule.For(mode)
		if spec == "" || (q.EmergencyOnly && mode != Emergency) {
			continue
		}
		sched, err := cron.ParseStandard(spec)
		if err != nil {
			return fmt.Errorf("%s: schedule %q: %w", q.File, spec, err)
		}
		s.Metrics.QuerySchedule.WithLabelValues(q.Name, string(mode), spec).Set(1)
		rule := q.Kind == KindRule
		if !rule {
			indicators.Add(1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Metrics.QuerySchedule.DeleteLabelValues(q.Name, string(mode), spec)
			if rule {
				select {
				case <-indicatorsFirst:
				case <-ctx.Done():
					return
				}
			}
			s.loop(ctx, q, sched, mode, func() {
				if !rule {
					indicators.Done()
				}
			})
		}()
	}
	go func() { indicators.Wait(); close(indicatorsFirst) }()
	return nil
}

// loop runs q at once (firstDone is called after) and then by sched.
func (s *Scheduler) loop(ctx context.Context, q *Query, sched cron.Schedule, mode Mode, firstDone func()) {
	s.runOnce(ctx, q, RoundFrom(q, s.Now()), mode)
	firstDone()
	for {
		next := sched.Next(s.Now().In(calendar.Zone))
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		// The current period, and the previous one while it may still be
		// restated by late records.
		s.runOnce(ctx, q, RoundFrom(q, s.Now()), mode)
	}
}

// runOnce computes q for the periods from from to now.
func (s *Scheduler) runOnce(ctx context.Context, q *Query, from time.Time, mode Mode) {
	defer s.Locks.Lock(q.Name)()
	now := s.Now()
	runID := fmt.Sprintf("%s/%s/%s", q.Name, mode, now.In(calendar.Zone).Format("20060102T150405"))
	start := time.Now()
	res, err := Run(ctx, s.DB, q, from, now, runID, now)
	s.Metrics.QueryDuration.WithLabelValues(q.Name).Set(time.Since(start).Seconds())
	if s.Ran != nil {
		s.Ran(q.Name, mode, start, time.Now())
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		s.Metrics.QueryRuns.WithLabelValues(q.Name, string(mode), "error").Inc()
		s.Log.Error("indicator run failed", "query", q.Name, "run", runID, "err", err)
		return
	}
	s.Metrics.QueryRuns.WithLabelValues(q.Name, string(mode), "ok").Inc()
	s.Metrics.QueryLastSuccess.WithLabelValues(q.Name, string(mode)).Set(float64(now.UnixMilli()) / 1000)
	s.Metrics.QueryLastRun.WithLabelValues(q.Name, runID).Set(float64(now.UnixMilli()) / 1000)
	if len(res.UnknownAreas) > 0 {
		s.Log.Warn("indicator rows for areas not in the reference tables", "query", q.Name, "areas", len(res.UnknownAreas))
	}
	s.Log.Debug("indicator computed", "query", q.Name, "run", runID, "periods", res.Periods, "inserted", res.Inserted,
		"restated", res.Restated, "updated", res.Updated)
}

// RoundFrom is where a scheduled run of q at now starts: the start of the
// period before the one now falls in, which a run covers too while late
// records may still restate it.
func RoundFrom(q *Query, now time.Time) time.Time {
	return q.Period.Start(q.Period.Start(now, calendar.Zone).Add(-time.Nanosecond), calendar.Zone)
}
