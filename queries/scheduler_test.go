package queries

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
