package queries

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
)

func TestPeriodStart(t *testing.T) {
	loc := calendar.Zone
	for _, tc := range []struct {
		period     Period
		at         time.Time
		start, end string
	}{
		// 2026-03-01T15:59:59Z is 23:59:59 on 1 March in Asia/Shanghai, 16:00:00Z is 00:00 on 2 March.
		{Day, time.Date(2026, 3, 1, 15, 59, 59, 0, time.UTC), "2026-03-01T00:00:00+08:00", "2026-03-02T00:00:00+08:00"},
		{Day, time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC), "2026-03-02T00:00:00+08:00", "2026-03-03T00:00:00+08:00"},
		// Sunday 1 March 2026 belongs to the week of Monday 23 February.
		{Week, time.Date(2026, 3, 1, 12, 0, 0, 0, loc), "2026-02-23T00:00:00+08:00", "2026-03-02T00:00:00+08:00"},
		{Week, time.Date(2026, 3, 2, 0, 0, 0, 0, loc), "2026-03-02T00:00:00+08:00", "2026-03-09T00:00:00+08:00"},
		{Month, time.Date(2026, 2, 28, 16, 0, 0, 0, time.UTC), "2026-03-01T00:00:00+08:00", "2026-04-01T00:00:00+08:00"},
		{Month, time.Date(2026, 2, 28, 15, 59, 59, 0, time.UTC), "2026-02-01T00:00:00+08:00", "2026-03-01T00:00:00+08:00"},
		{Quarter, time.Date(2026, 6, 30, 12, 0, 0, 0, loc), "2026-04-01T00:00:00+08:00", "2026-07-01T00:00:00+08:00"},
		{HalfYear, time.Date(2026, 6, 30, 16, 0, 0, 0, time.UTC), "2026-07-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00"},
		{HalfYear, time.Date(2026, 3, 1, 0, 0, 0, 0, loc), "2026-01-01T00:00:00+08:00", "2026-07-01T00:00:00+08:00"},
		{Year, time.Date(2025, 12, 31, 16, 0, 0, 0, time.UTC), "2026-01-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00"},
	} {
		t.Run(fmt.Sprint(tc.period, " ", tc.at.Format(time.RFC3339)), func(t *testing.T) {
			start := tc.period.Start(tc.at, loc)
			if got := start.Format(time.RFC3339); got != tc.start {
				t.Errorf("start %s, want %s", got, tc.start)
			}
			if got := tc.period.Next(start).Format(time.RFC3339); got != tc.end {
				t.Errorf("end %s, want %s", got, tc.end)
			}
		})
	}
}

func TestValue(t *testing.T) {
	for _, tc := range []struct {
		unit       Unit
		min        int
		num, den   float64
		want       any
		suppressed bool
	}{
		{UnitPercent, 5, 3, 4, nil, true},
		{UnitPercent, 5, 4, 5, 80.0, false},
		{UnitPercent, 0, 0, 0, nil, false},
		{UnitCount, 5, 7, 2, nil, true},
		{UnitCount, 0, 7, 0, 7.0, false},
		{UnitHours, 1, 30, 4, 7.5, false},
		{UnitPer10k, 5, 3, 20000, 1.5, false},
	} {
		t.Run(fmt.Sprint(tc.unit, tc.min, tc.num, tc.den), func(t *testing.T) {
			q := &Query{Header: Header{Unit: tc.unit, MinDenominator: tc.min}}
			v, s := q.value(tc.num, tc.den)
			if v != tc.want || s != tc.suppressed {
				t.Errorf("got %v %t, want %v %t", v, s, tc.want, tc.suppressed)
			}
		})
	}
}

func TestScanSQL(t *testing.T) {
	for _, tc := range []struct {
		name, sql  string
		params     []string
		semicolons int
		words      []string
		open       bool
	}{
		{"plain", "SELECT a FROM grid_events WHERE t < $as_of", []string{"as_of"}, 0, []string{"select", "a", "from", "grid_events", "where", "t"}, false},
		{"strings hide", "SELECT '$x;', E'\\';$y', 'it''s;' ", nil, 0, []string{"select"}, false},
		{"quoted name", `SELECT "households;x" FROM "door_visits"`, nil, 0, []string{"select", "households;x", "from", "door_visits"}, false},
		{"nested comment", "SELECT /* a /* b; */ $c */ 1 -- ; $d\n;", nil, 1, []string{"select"}, false},
		{"dollar string", "SELECT $q$ $p; $q$, $$;$$, $period_end", []string{"period_end"}, 0, []string{"select"}, false},
		{"open comment", "SELECT /* a", nil, 0, []string{"select"}, true},
		{"open string", "SELECT 'a", nil, 0, []string{"select"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := scanSQL(tc.sql, 1)
			var params []string
			for _, p := range st.params {
				params = append(params, p.name)
			}
			var words []string
			for w := range st.words {
				words = append(words, w)
			}
			slices.Sort(words)
			want := slices.Clone(tc.words)
			slices.Sort(want)
			if !slices.Equal(params, tc.params) || len(st.semicolons) != tc.semicolons || !slices.Equal(words, want) || (st.unterminated != nil) != tc.open {
				t.Errorf("params %v, %d semicolons, words %v, open %v", params, len(st.semicolons), words, st.unterminated)
			}
		})
	}
}

func TestModes(t *testing.T) {
	s := Schedule{Normal: "30 1 * * *"}
	if s.For(Normal) != "30 1 * * *" || s.For(Emergency) != "30 1 * * *" {
		t.Errorf("emergency falls back to normal: %q", s.For(Emergency))
	}
	s = Schedule{Emergency: "0-59/5 * * * *"}
	if s.For(Normal) != "" || s.For(Emergency) != "0-59/5 * * * *" {
		t.Errorf("emergency only: %q %q", s.For(Normal), s.For(Emergency))
	}
	th := Thresholds{Normal: &Threshold{Warn: 80, Alert: 70}}
	if th.For(Emergency) != th.Normal {
		t.Error("emergency thresholds fall back to normal")
	}
}
