package pipelines

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/queries"
)

// Scheduler runs the indicator queries on their cron schedules (Asia/
// Shanghai). Each query has one goroutine, so two runs of one query never
// overlap; a failing query is logged and counted and does not stop the
// others. At start every query catches up: it computes the previous and the
// current period, which covers runs missed while the process was down.
type Scheduler struct {
	DB      *sql.DB
	Catalog *queries.Catalog
	Metrics *metrics.Metrics
	Log     *slog.Logger
	Now     func() time.Time
}

var shanghai = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return l
	}
	return time.FixedZone("CST", 8*3600)
}()

// Run schedules every query until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, q := range s.Catalog.Queries() {
		spec := q.Schedule.For(queries.Normal)
		if spec == "" || q.EmergencyOnly {
			continue // emergency-only queries start when an area switches to emergency
		}
		sched, err := cron.ParseStandard(spec)
		if err != nil {
			return fmt.Errorf("%s: schedule %q: %w", q.File, spec, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, q, sched, queries.Normal)
		}()
	}
	wg.Wait()
	return nil
}

func (s *Scheduler) loop(ctx context.Context, q *queries.Query, sched cron.Schedule, mode queries.Mode) {
	now := s.Now()
	prev := q.Period.Start(q.Period.Start(now, shanghai).Add(-time.Nanosecond), shanghai)
	s.runOnce(ctx, q, prev, mode)
	for {
		next := sched.Next(s.Now().In(shanghai))
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		// The current period, and the previous one while it may still be
		// restated by late records.
		now := s.Now()
		from := q.Period.Start(q.Period.Start(now, shanghai).Add(-time.Nanosecond), shanghai)
		s.runOnce(ctx, q, from, mode)
	}
}

// runOnce computes q for the periods from from to now.
func (s *Scheduler) runOnce(ctx context.Context, q *queries.Query, from time.Time, mode queries.Mode) {
	now := s.Now()
	runID := fmt.Sprintf("%s/%s/%s", q.Name, mode, now.In(shanghai).Format("20060102T150405"))
	start := time.Now()
	res, err := queries.Run(ctx, s.DB, q, from, now, runID, now)
	s.Metrics.QueryDuration.WithLabelValues(q.Name).Set(time.Since(start).Seconds())
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
