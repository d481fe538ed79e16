package simulate

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// TestLifecyclesArePlausible: over 90 days of history, every lifecycle
// step, share and the spread between streets falls in the range the
// package doc gives with its source; the degenerate values of a
// compressed clock (every case closed in minutes, every rate 100%) are
// gone.
func TestLifecyclesArePlausible(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	s := New(Config{Seed: 7, Scale: 0.01, History: 90 * 24 * time.Hour, HistoryRate: 0.05, Now: func() time.Time { return now }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run makes the history, then returns
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// Cases that started at least a week ago have mostly run their course.
	st := s.Stats(now.AddDate(0, 0, -90), now.AddDate(0, 0, -7))
	var b strings.Builder
	_ = st.Write(&b)
	t.Logf("\n%s", b.String())
	check := func(what string, got, lo, hi float64) {
		t.Helper()
		if math.IsNaN(got) || got < lo || got > hi {
			t.Errorf("%s = %.3f, want %.3f to %.3f", what, got, lo, hi)
		}
	}
	row := func(typ string) StatsRow {
		r, ok := st.Row(typ, "all")
		if !ok || r.N < 1000 {
			t.Fatalf("%s: %d cases", typ, r.N)
		}
		return r
	}
	ev := row("grid_event")
	check("grid event dispatch p50 (working h)", ev.Steps["dispatch"].P50, 0.2, 2)
	check("grid event report→close p50 (working h)", ev.Steps["close"].P50, 2, 16)
	check("grid event report→close p90 (working h)", ev.Steps["close"].P90, 8, 60)
	check("grid event overdue share", ev.Overdue, 0.05, 0.20)
	check("grid event rework share", ev.Rework, 0.02, 0.10)
	check("grid event deferred share", ev.Deferred, 0.005, 0.04)
	check("grid event instant-closure share", ev.Instant, 0.003, 0.04)
	check("grid event rejected share", ev.Rejected, 0.01, 0.06)
	lo, hi := st.OnTimeSpread()
	check("lowest street on-time rate", lo, 0.55, 0.90)
	check("highest street on-time rate", hi, 0.85, 0.99)
	check("street on-time spread", hi-lo, 0.08, 0.40)
	pi := row("police_incident")
	check("police arrival p50 (h)", pi.Steps["arrive"].P50, 0.1, 0.35)
	check("police arrival p90 (h)", pi.Steps["arrive"].P90, 0.2, 0.75)
	check("police on scene p50 (h)", pi.Steps["on_scene"].P50, 0.3, 2)
	wo := row("work_order")
	check("work order assignment p50 (working h)", wo.Steps["assign"].P50, 0.1, 2)
	check("work order created→completed p50 (working h)", wo.Steps["complete"].P50, 1, 24)
	check("work order overdue share", wo.Overdue, 0.03, 0.20)
	check("work order cancelled share", wo.Rejected, 0.005, 0.05)
	// Categories differ: disputes take longer than street cleaning.
	if a, ok := st.Row("grid_event", "01"); ok {
		if d, ok := st.Row("grid_event", "04"); !ok || d.Steps["close"].P50 < 2*a.Steps["close"].P50 {
			t.Errorf("disputes (04) close in %.1f working h, street cleaning (01) in %.1f: the classes do not differ", d.Steps["close"].P50, a.Steps["close"].P50)
		}
	}
}
