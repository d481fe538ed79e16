package queries

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/metrics"
)

// TestQueryLocks: runs of one query never overlap, whichever mode or caller
// starts them; runs of different queries do.
func TestQueryLocks(t *testing.T) {
	var l QueryLocks
	var inside, most, others atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "event_ontime_closure_rate"
			if i%2 == 1 {
				name = "door_knock_coverage"
			}
			defer l.Lock(name)()
			if name == "door_knock_coverage" {
				others.Add(1)
				return
			}
			n := inside.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			inside.Add(-1)
		}()
	}
	// Another query's lock is free while one holds its own.
	unlock := l.Lock("event_ontime_closure_rate")
	done := make(chan struct{})
	go func() { defer close(done); l.Lock("overdue_open_events")() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("another query's run waited for this one's lock")
	}
	unlock()
	wg.Wait()
	if most.Load() != 1 || others.Load() != 4 {
		t.Fatalf("at most %d runs of one query at once (want 1); %d runs of the other", most.Load(), others.Load())
	}
}

// TestSchedulerIndicatorsFirst: at start every query catches up once, and
// no rule's first run begins before every indicator's first run ended.
func TestSchedulerIndicatorsFirst(t *testing.T) {
	e := newEnv(t)
	type run struct {
		rule         bool
		began, ended time.Time
	}
	var mu sync.Mutex
	first := map[string]run{}
	want := 0
	for _, q := range e.cat.Queries() {
		if q.Schedule.For(Normal) != "" && !q.EmergencyOnly {
			want++
		}
	}
	all := make(chan struct{})
	s := &Scheduler{DB: e.db, Catalog: e.cat, Metrics: metrics.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return sh(2026, 3, 15, 12, 0) }, ModePoll: time.Hour,
		Ran: func(name string, _ Mode, began, ended time.Time) {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := first[name]; ok {
				return
			}
			q, _ := e.cat.Get(name)
			first[name] = run{rule: q.Kind == KindRule, began: began, ended: ended}
			if len(first) == want {
				close(all)
			}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%d of %d queries ran", len(first), want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var lastIndicator, firstRule time.Time
	rules := 0
	for _, r := range first {
		if r.rule {
			rules++
			if firstRule.IsZero() || r.began.Before(firstRule) {
				firstRule = r.began
			}
		} else if r.ended.After(lastIndicator) {
			lastIndicator = r.ended
		}
	}
	if rules == 0 || firstRule.Before(lastIndicator) {
		t.Fatalf("%d rules; the first began at %v, before the last indicator's first run ended at %v", rules, firstRule, lastIndicator)
	}
}
