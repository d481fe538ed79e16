package simulate

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
)

// Stats describes the cases a simulator holds that started in a window: per
// record type and category, the durations of each lifecycle step and the
// shares of cases that went wrong; and the spread of on-time rates across
// streets. It is how the lifecycle model is judged against the ranges in
// the package doc (yiwang simulate stats prints it).
type Stats struct {
	From, To time.Time
	Rows     []StatsRow
	// StreetOnTime is each street's on-time closure rate of the grid
	// events due in the window (closed by the deadline / due, deferred
	// events left out), by street code.
	StreetOnTime map[string]float64
}

// StatsRow is one record type and category.
type StatsRow struct {
	Type, Category string
	N              int
	// Steps are the lifecycle steps' durations in hours — working hours
	// for office steps, elapsed for a police patrol — by step name, for
	// the cases that took the step.
	Steps map[string]Duration
	// Shares of the cases: overdue (closed after the deadline, or still
	// open past it), rework (at least one), deferred, instant (closed
	// within 10 minutes of dispatch), rejected.
	Overdue, Rework, Deferred, Instant, Rejected float64
}

// Duration is the median and 90th percentile of a step, in hours.
type Duration struct {
	N        int
	P50, P90 float64
}

// Step names, in lifecycle order.
var stepOrder = []string{"dispatch", "handle", "verify", "close", "arrive", "on_scene", "assign", "repair", "complete"}

// Stats returns the statistics of the cases that started in [from, to).
func (s *Simulator) Stats(from, to time.Time) Stats {
	l := s.Ledger()
	now := s.clockTime()
	cal := s.cal.cal
	wh := func(a, b time.Time) float64 { return cal.WorkingDuration(a, b).Hours() }
	el := func(a, b time.Time) float64 { return b.Sub(a).Hours() }
	st := Stats{From: from, To: to, StreetOnTime: map[string]float64{}}
	type acc struct {
		n                                      int
		steps                                  map[string][]float64
		overdue, rework, deferred, instant, rj int
	}
	accs := map[[2]string]*acc{}
	get := func(typ, cat string) *acc {
		k := [2]string{typ, cat}
		if accs[k] == nil {
			accs[k] = &acc{steps: map[string][]float64{}}
		}
		return accs[k]
	}
	in := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
	due := map[string][2]int{} // street → on time, due
	for _, v := range l.Valid["grid_event"] {
		var e gridEvent
		if json.Unmarshal(v.JSON, &e) != nil {
			continue
		}
		rep := parseMicros(e.ReportedAt)
		if !in(rep) {
			continue
		}
		for _, a := range []*acc{get("grid_event", e.CategoryMajor), get("grid_event", "all")} {
			a.n++
			disp, hand, clo, dl := opt(e.DispatchedAt), opt(e.HandledAt), opt(e.ClosedAt), opt(e.DeadlineAt)
			if !disp.IsZero() {
				a.steps["dispatch"] = append(a.steps["dispatch"], wh(rep, disp))
			}
			if !disp.IsZero() && !hand.IsZero() {
				a.steps["handle"] = append(a.steps["handle"], wh(disp, hand))
			}
			if !hand.IsZero() && !clo.IsZero() {
				a.steps["verify"] = append(a.steps["verify"], wh(hand, clo))
			}
			if !clo.IsZero() {
				a.steps["close"] = append(a.steps["close"], wh(rep, clo))
				if !disp.IsZero() && clo.Sub(disp) < 10*time.Minute { // as event_instant_closure_rate counts it
					a.instant++
				}
			}
			open := e.Status != "closed" && e.Status != "evaluated" && e.Status != "rejected" && e.Status != "merged" && e.Status != "deferred"
			if !dl.IsZero() && ((!clo.IsZero() && clo.After(dl)) || (open && now.After(dl))) {
				a.overdue++
			}
			if e.ReworkCount != nil && *e.ReworkCount > 0 {
				a.rework++
			}
			if e.Deferred != nil && *e.Deferred {
				a.deferred++
			}
			if e.Status == "rejected" {
				a.rj++
			}
		}
		if dl := opt(e.DeadlineAt); in(dl) && dl.Before(now) && !(e.Deferred != nil && *e.Deferred) &&
			e.Status != "rejected" && e.Status != "merged" {
			street := e.GridCode[:9]
			c := due[street]
			c[1]++
			if clo := opt(e.ClosedAt); !clo.IsZero() && !clo.After(dl) {
				c[0]++
			}
			due[street] = c
		}
	}
	for street, c := range due {
		if c[1] > 0 {
			st.StreetOnTime[street] = float64(c[0]) / float64(c[1])
		}
	}
	for _, v := range l.Valid["police_incident"] {
		var p policeIncident
		if json.Unmarshal(v.JSON, &p) != nil {
			continue
		}
		rec := parseMicros(p.ReceivedAt)
		if !in(rec) {
			continue
		}
		for _, a := range []*acc{get("police_incident", p.CategoryL1), get("police_incident", "all")} {
			a.n++
			arr, clo := opt(p.ArrivedAt), opt(p.ClosedAt)
			if !arr.IsZero() {
				a.steps["arrive"] = append(a.steps["arrive"], el(rec, arr))
			}
			if !arr.IsZero() && !clo.IsZero() {
				a.steps["on_scene"] = append(a.steps["on_scene"], el(arr, clo))
			}
		}
	}
	for _, v := range l.Valid["work_order"] {
		var w workOrder
		if json.Unmarshal(v.JSON, &w) != nil {
			continue
		}
		cr := parseMicros(w.CreatedAt)
		if !in(cr) {
			continue
		}
		urgency := "normal"
		if w.Urgent != nil && *w.Urgent {
			urgency = "urgent"
		}
		deadline := s.cal.AddWorkingHours(cr, sla("property", w.Category, urgency))
		for _, a := range []*acc{get("work_order", w.Category), get("work_order", "all")} {
			a.n++
			asg, arr, com := opt(w.AssignedAt), opt(w.ArrivedAt), opt(w.CompletedAt)
			if !asg.IsZero() {
				a.steps["assign"] = append(a.steps["assign"], wh(cr, asg))
			}
			if !asg.IsZero() && !arr.IsZero() {
				a.steps["arrive"] = append(a.steps["arrive"], wh(asg, arr))
			}
			if !arr.IsZero() && !com.IsZero() {
				a.steps["repair"] = append(a.steps["repair"], el(arr, com))
			}
			if !com.IsZero() {
				a.steps["complete"] = append(a.steps["complete"], wh(cr, com))
			}
			if w.Status != "cancelled" && ((!com.IsZero() && com.After(deadline)) || (com.IsZero() && now.After(deadline))) {
				a.overdue++
			}
			if w.Status == "cancelled" {
				a.rj++
			}
		}
	}
	for k, a := range accs {
		r := StatsRow{Type: k[0], Category: k[1], N: a.n, Steps: map[string]Duration{}}
		for name, xs := range a.steps {
			r.Steps[name] = quantiles(xs)
		}
		n := float64(a.n)
		r.Overdue, r.Rework, r.Deferred, r.Instant, r.Rejected = float64(a.overdue)/n, float64(a.rework)/n,
			float64(a.deferred)/n, float64(a.instant)/n, float64(a.rj)/n
		st.Rows = append(st.Rows, r)
	}
	slices.SortFunc(st.Rows, func(a, b StatsRow) int {
		all := func(r StatsRow) int { return boolInt(r.Category != "all") }
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(all(a), all(b)), cmp.Compare(a.Category, b.Category))
	})
	return st
}

// Row returns the row of a record type and category ("all" for every
// category), or false.
func (st Stats) Row(typ, category string) (StatsRow, bool) {
	for _, r := range st.Rows {
		if r.Type == typ && r.Category == category {
			return r, true
		}
	}
	return StatsRow{}, false
}

// Write prints the statistics as a table.
func (st Stats) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "cases started %s to %s; durations in hours (working hours but for police and repairs), p50/p90\n",
		st.From.In(calendar.Zone).Format(time.DateOnly), st.To.In(calendar.Zone).Format(time.DateOnly))
	header := []string{"type", "category", "n"}
	header = append(header, stepOrder...)
	header = append(header, "overdue", "rework", "deferred", "instant", "rejected", "")
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range st.Rows {
		cells := []string{r.Type, r.Category, fmt.Sprint(r.N)}
		for _, name := range stepOrder {
			d, ok := r.Steps[name]
			if !ok {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, fmt.Sprintf("%.1f/%.1f", d.P50, d.P90))
		}
		for _, x := range []float64{r.Overdue, r.Rework, r.Deferred, r.Instant, r.Rejected} {
			cells = append(cells, fmt.Sprintf("%.1f%%", 100*x))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	streets := make([]string, 0, len(st.StreetOnTime))
	for c := range st.StreetOnTime {
		streets = append(streets, c)
	}
	slices.Sort(streets)
	fmt.Fprintf(w, "on-time closure of grid events due, by street:")
	for _, c := range streets {
		fmt.Fprintf(w, " %s %.1f%%", c, 100*st.StreetOnTime[c])
	}
	lo, hi := st.OnTimeSpread()
	_, err := fmt.Fprintf(w, "\n  spread %.1f%% to %.1f%% (%.1f points)\n", 100*lo, 100*hi, 100*(hi-lo))
	return err
}

// OnTimeSpread is the lowest and highest street on-time rate.
func (st Stats) OnTimeSpread() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, r := range st.StreetOnTime {
		lo, hi = min(lo, r), max(hi, r)
	}
	return lo, hi
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func quantiles(xs []float64) Duration {
	slices.Sort(xs)
	q := func(p float64) float64 {
		if len(xs) == 0 {
			return math.NaN()
		}
		return xs[min(len(xs)-1, int(p*float64(len(xs))))]
	}
	return Duration{N: len(xs), P50: q(0.5), P90: q(0.9)}
}

func parseMicros(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func opt(s *string) time.Time {
	if s == nil {
		return time.Time{}
	}
	return parseMicros(*s)
}

// clockTime is the simulator's clock: the latest instant it has generated.
func (s *Simulator) clockTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.UnixMicro(s.clock)
}
