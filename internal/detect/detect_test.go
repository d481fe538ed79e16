package detect

import (
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
)

var update = flag.Bool("update", false, "rewrite testdata/detectors.golden")

// official returns the classes of the official calendar's days.
func official(t *testing.T) map[string]string {
	t.Helper()
	cal, err := calendar.Official()
	if err != nil {
		t.Fatal(err)
	}
	var days []Day
	first, last := cal.Years()
	for d := time.Date(first, 1, 1, 12, 0, 0, 0, cal.Location()); d.Year() <= last; d = d.AddDate(0, 0, 1) {
		day := Day{Date: d.Format(time.DateOnly), Workday: cal.IsWorkday(d)}
		if cal.Kind(d) == calendar.Holiday {
			day.Holiday = holidayOf(cal, d)
		}
		days = append(days, day)
	}
	return DayClasses(days)
}

func holidayOf(cal *calendar.Calendar, d time.Time) string {
	for _, x := range cal.Days() {
		if x.Date.String() == d.Format(time.DateOnly) {
			return x.Holiday
		}
	}
	return ""
}

// daily builds a series of daily counts from the date from: value(date,
// class) gives each day's count.
func daily(classes map[string]string, from, to string, value func(date, class string) float64) []Point {
	var s []Point
	d, _ := time.Parse(time.DateOnly, from)
	end, _ := time.Parse(time.DateOnly, to)
	for ; !d.After(end); d = d.AddDate(0, 0, 1) {
		date := d.Format(time.DateOnly)
		c := classes[date]
		s = append(s, Point{Start: d, Num: value(date, c), Class: c})
	}
	return s
}

func index(s []Point, date string) int {
	for i, p := range s {
		if p.Start.Format(time.DateOnly) == date {
			return i
		}
	}
	panic(date)
}

// usual is a community's ordinary day: 4 incidents on a working day, 1 on
// a day off, 2 on a Spring Festival day.
func usual(_ string, class string) float64 {
	switch {
	case class == ClassWorkday:
		return 4
	case strings.HasPrefix(class, classFestival):
		return 2
	}
	return 1
}

func with(base func(string, string) float64, at map[string]float64) func(string, string) float64 {
	return func(date, class string) float64 {
		if v, ok := at[date]; ok {
			return v
		}
		return base(date, class)
	}
}

// TestDetectors runs every detector on fixed series with hand-computed
// expectations, and writes what each found to testdata/detectors.golden.
func TestDetectors(t *testing.T) {
	cl := official(t)
	type want struct {
		flag            bool
		expected, score float64
	}
	var golden strings.Builder
	check := func(name string, f Finding, w want) {
		t.Helper()
		fmt.Fprintf(&golden, "%s: flag %t observed %.4g expected %.4g score %.4g; %s\n", name, f.Flag, f.Observed, f.Expected, f.Score, f.Baseline)
		if f.Flag != w.flag || math.Abs(f.Expected-w.expected) > 1e-3 || math.Abs(f.Score-w.score) > 1e-3 {
			t.Errorf("%s: flag %t expected %.4f score %.4f, want %t %.4f %.4f (%s)", name, f.Flag, f.Expected, f.Score, w.flag, w.expected, w.score, f.Baseline)
		}
	}

	// Poisson, a working day in March 2025: 14 against the 28 working
	// days before (4 each): P(N ≥ 14 | 4) = 7.6328e-5, the normal score
	// 3.7867 (the normal approximation would say (14 − 4)/√4 = 5).
	s := daily(cl, "2025-01-01", "2025-03-20", with(usual, map[string]float64{"2025-03-19": 14}))
	check("poisson: 14 on a working day against working days", Poisson(s, index(s, "2025-03-19"), Params{}, math.NaN()), want{true, 4, 3.7867})
	// The same 14 on a Saturday is judged against days off (1 each):
	// P(N ≥ 14 | 1) = 4.5198e-12, score 6.8210.
	s = daily(cl, "2025-01-01", "2025-03-20", with(usual, map[string]float64{"2025-03-15": 14}))
	check("poisson: 14 on a Saturday against days off", Poisson(s, index(s, "2025-03-15"), Params{}, math.NaN()), want{true, 1, 6.8210})
	// A Saturday's ordinary 1 is no drop, and a Saturday of 4 (a working
	// day's count) against days off: P(N ≥ 4 | 1) = 0.018988, score
	// 2.0751, not past 3, and under the minimum count of 5.
	check("poisson: 4 on a Saturday", Poisson(daily(cl, "2025-01-01", "2025-03-15", with(usual, map[string]float64{"2025-03-15": 4})), index(s, "2025-03-15"), Params{}, math.NaN()), want{false, 1, 2.0751})

	// Make-up working day: Sunday 26 January 2025 was a working day (调休
	// for the Spring Festival). Its 4 is a working day's, no spike; a
	// calendar that only knew weekends would compare it with days off.
	s = daily(cl, "2024-12-01", "2025-01-26", usual)
	i := index(s, "2025-01-26")
	if s[i].Class != ClassWorkday {
		t.Fatalf("26 January 2025 is %s", s[i].Class)
	}
	check("poisson: a make-up working day's ordinary 4", Poisson(s, i, Params{}, math.NaN()), want{false, 4, 0})
	// The calendar-blind peer: the 14 days before (10 working days of 4, 4
	// days off of 1) have mean 44/14 and sd 1.40642: z = 0.60945.
	check("zscore: the same day", ZScore(s, i), want{false, 44.0 / 14, 0.60945})

	// Spring Festival 2025 (28 January – 4 February) against 2024's (10–17
	// February): day 3 of each. 2 against last year's 2 is no change; 12
	// has P(N ≥ 12 | 2) = 1.3646e-6, score 4.6902.
	s = daily(cl, "2024-01-01", "2025-02-10", usual)
	i = index(s, "2025-01-30")
	if s[i].Class != "festival:3" || s[index(s, "2024-02-12")].Class != "festival:3" {
		t.Fatalf("classes %s, %s", s[i].Class, s[index(s, "2024-02-12")].Class)
	}
	check("poisson: Spring Festival day 3, ordinary", Poisson(s, i, Params{}, math.NaN()), want{false, 2, 0})
	s[i].Num = 12
	check("poisson: Spring Festival day 3, 12", Poisson(s, i, Params{}, math.NaN()), want{true, 2, 4.6902})
	// The calendar-blind peer on the festival's first day: the 14 days
	// before (11 working days of 4 with the make-up Sunday, 3 days off of
	// 1) have mean 47/14 and sd 1.27745; the ordinary 2 scores −1.06239.
	s[i].Num = 2
	check("zscore: Spring Festival day 1, ordinary", ZScore(s, index(s, "2025-01-28")), want{false, 47.0 / 14, -1.06239})

	// Cold start: a community with 3 working days of its own (MinHistory
	// 7) takes its peers' 4: P(N ≥ 12 | 4) = 9.1523e-4, score 3.1164.
	s = daily(cl, "2025-03-17", "2025-03-20", with(usual, map[string]float64{"2025-03-20": 12}))
	check("poisson: cold start on the peers' baseline", Poisson(s, 3, Params{MinHistory: 7}, 4), want{true, 4, 3.1164})
	check("poisson: cold start without peers", Poisson(s, 3, Params{MinHistory: 7}, math.NaN()), want{false, 0, 0})

	// Excluded: an earlier spike marked a known incident stays out of the
	// baseline; left in, it raises it (though not its spread, taken
	// robustly: the MAD of 26 fours and a 60 is 0): the 27 working days
	// from 10 February hold 26 fours and the 60, mean 164/27 = 6.074,
	// P(N ≥ 12 | 6.074) = 0.021813, score 2.0177. Left out: 3.1164 as
	// above.
	s = daily(cl, "2025-02-10", "2025-03-20", with(usual, map[string]float64{"2025-03-12": 60, "2025-03-19": 12}))
	i = index(s, "2025-03-19")
	check("poisson: spike with an earlier incident in the baseline", Poisson(s, i, Params{}, math.NaN()), want{false, 164.0 / 27, 2.0177})
	s[index(s, "2025-03-12")].Excluded = true
	check("poisson: spike with the incident left out", Poisson(s, i, Params{}, math.NaN()), want{true, 4, 3.1164})

	// Days 2: a spike is judged on its last two days together. One
	// working day of 12 after an ordinary 4: alone P(N ≥ 12 | 4) = 9.152e-4,
	// score 3.1164, past 3; with the day before, 16 against 8 has
	// P = 8.231e-3, score 2.3985: an ordinary one-off bad day. Two days
	// of 12: the second's baseline holds the first (28 working days of
	// mean 4.2857, no dispersion), 24 against 8.2857: P = 6.6048e-6,
	// score 4.3566. The day after, back to 4, is not flagged for them
	// (under the minimum count, though 16 against 8.857 scores 2.0665).
	s = daily(cl, "2025-01-01", "2025-03-20", with(usual, map[string]float64{"2025-03-18": 12}))
	check("poisson: a one-off 12, alone", Poisson(s, index(s, "2025-03-18"), Params{}, math.NaN()), want{true, 4, 3.1164})
	check("poisson: a one-off 12, over 2 days", Poisson(s, index(s, "2025-03-18"), Params{Days: 2}, math.NaN()), want{false, 4, 2.3985})
	check("robust: a one-off 12, over 2 days", Robust(s, index(s, "2025-03-18"), Params{Days: 2, Z: 3}), want{false, 4, 2.8284})
	s = daily(cl, "2025-01-01", "2025-03-20", with(usual, map[string]float64{"2025-03-17": 12, "2025-03-18": 12}))
	check("poisson: two days of 12, over 2 days", Poisson(s, index(s, "2025-03-18"), Params{Days: 2}, math.NaN()), want{true, 30.0 / 7, 4.3566})
	check("robust: two days of 12, over 2 days", Robust(s, index(s, "2025-03-18"), Params{Days: 2, Z: 3}), want{true, 4, 5.6569})
	check("poisson: back to 4 after them", Poisson(s, index(s, "2025-03-19"), Params{Days: 2}, math.NaN()), want{false, 30.0/7 + 2.0/7, 2.0665})

	// Robust: one earlier outlier (60) does not move the median; the MAD
	// of a flat series is 0, so the spread is √4 = 2.
	s = daily(cl, "2025-02-10", "2025-03-20", with(usual, map[string]float64{"2025-03-12": 60, "2025-03-19": 12}))
	check("robust: 12 with an earlier outlier", Robust(s, index(s, "2025-03-19"), Params{}), want{true, 4, 4})
	check("robust: 7", Robust(daily(cl, "2025-02-10", "2025-03-20", with(usual, map[string]float64{"2025-03-19": 7})), index(s, "2025-03-19"), Params{}), want{false, 4, 1.5})

	// Funnel: 30 of 50 (60%) against peers' 870 of 1,000 (87%): the
	// 3-sigma Wilson interval tops out at (0.69 + 3√0.0057)/1.18 = 77.669%,
	// below 87%; 40 of 50 reaches 91.703%; a rework rate of 20 of 50 starts
	// at 22.331%.
	// The ten peers are alike (87 of 100 each): no spread beyond chance.
	alike := func(num float64) []Rate {
		var r []Rate
		for range 10 {
			r = append(r, Rate{num, 100})
		}
		return r
	}
	check("funnel: 30/50 against 87%", Funnel(30, 50, alike(87), Params{Higher: true}), want{true, 87, 87 - 77.6691})
	check("funnel: 40/50 against 87%", Funnel(40, 50, alike(87), Params{Higher: true}), want{false, 87, 87 - 91.7029})
	check("funnel: 10/15, too few cases", Funnel(10, 15, alike(87), Params{Higher: true}), want{false, 0, 0})
	// Lower is better (a rework rate): 20 of 50 against 10%.
	check("funnel: rework 20/50 against 10%", Funnel(20, 50, alike(10), Params{}), want{true, 10, 22.3309 - 10})
	// Places that differ beyond chance: peers of 1,000 cases a month at
	// 80–94%. 780 of 1,000 is outside its Wilson interval of the peers'
	// mean, but within their spread; 600 of 1,000 is outside both.
	var spread []Rate
	for _, x := range []float64{800, 820, 840, 860, 870, 880, 890, 900, 920, 940} {
		spread = append(spread, Rate{x, 1000})
	}
	check("funnel: 780/1000 among places that differ", Funnel(780, 1000, spread, Params{Higher: true}), want{false, 87.2, 5.5295})
	check("funnel: 600/1000 among places that differ", Funnel(600, 1000, spread, Params{Higher: true}), want{true, 87.2, 22.6615})

	// Drop: 90, 88, 92 then 75 (of 100 each): 15 points below their mean.
	rates := func(v ...float64) []Point {
		var s []Point
		for _, x := range v {
			s = append(s, Point{Num: x, Den: 100})
		}
		return s
	}
	check("drop: 75 after 90, 88, 92", Drop(rates(90, 88, 92, 75), 3, Params{Higher: true}), want{true, 90, 15})
	check("drop: 82 after 90, 88, 92", Drop(rates(90, 88, 92, 82), 3, Params{Higher: true}), want{false, 90, 8})
	r := rates(90, 60, 88, 92, 75)
	r[1].Excluded = true // a known incident's month
	check("drop: an excluded month skipped", Drop(r, 4, Params{Higher: true}), want{true, 90, 15})

	// Rising: a backlog of 10, 12, 15, 19; and 10, 12, 11, 19.
	counts := func(v ...float64) []Point {
		var s []Point
		for _, x := range v {
			s = append(s, Point{Num: x})
		}
		return s
	}
	check("rising: 10, 12, 15, 19", Rising(counts(10, 12, 15, 19), 3, Params{}), want{true, 10, 3})
	check("rising: 10, 12, 11, 19", Rising(counts(10, 12, 11, 19), 3, Params{}), want{false, 10, 2})

	path := "testdata/detectors.golden"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(stored) != golden.String() {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, golden.String(), stored)
	}
}

// TestOverdispersion: alike places have none; places at 80–94% with 1,000
// cases each have a spread of about 4 points beyond chance, which one
// outlier among them widens little (winsorised).
func TestOverdispersion(t *testing.T) {
	var alike, spread []Rate
	for _, x := range []float64{868, 872, 870, 866, 874, 869, 871, 870} {
		alike = append(alike, Rate{x, 1000})
	}
	if tau2 := Overdispersion(alike, 20); tau2 != 0 {
		t.Errorf("alike places: τ² = %g, want 0", tau2)
	}
	for _, x := range []float64{800, 820, 840, 860, 870, 880, 890, 900, 920, 940} {
		spread = append(spread, Rate{x, 1000})
	}
	tau := math.Sqrt(Overdispersion(spread, 20))
	if tau < 0.03 || tau > 0.05 {
		t.Errorf("places at 80–94%%: τ = %.4f, want about 0.04", tau)
	}
	withOutlier := append(slices.Clone(spread), Rate{300, 1000})
	if t2 := math.Sqrt(Overdispersion(withOutlier, 20)); t2 > 2*tau {
		t.Errorf("one outlier widened τ from %.4f to %.4f", tau, t2)
	}
}

// TestWilson: the interval of DOMAIN.md §9's worked example, grid G005's
// on-time rate 0.347 against its peers' 0.870 (n = 49), lies below 0.870.
func TestWilson(t *testing.T) {
	lo, hi := Wilson(17, 49, 3)
	if !(lo < 0.347 && 0.347 < hi && hi < 0.87) {
		t.Fatalf("Wilson(17, 49, 3) = %.4f–%.4f", lo, hi)
	}
	if lo, hi := Wilson(0, 0, 3); lo != 0 || hi != 1 {
		t.Fatalf("no cases: %v–%v", lo, hi)
	}
}
