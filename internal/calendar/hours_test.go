package calendar

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestAddWorkingHours(t *testing.T) {
	c := mustOfficial(t)
	for _, tc := range []struct {
		name string
		from time.Time
		d    time.Duration
		want time.Time
	}{
		{"within the morning", sh(2026, 3, 3, 9, 0), 2 * time.Hour, sh(2026, 3, 3, 11, 0)},
		{"over lunch", sh(2026, 3, 3, 11, 0), 2 * time.Hour, sh(2026, 3, 3, 14, 0)},
		{"from lunch", sh(2026, 3, 3, 12, 30), time.Hour, sh(2026, 3, 3, 14, 0)},
		{"from a shift end", sh(2026, 3, 3, 12, 0), time.Hour, sh(2026, 3, 3, 14, 0)},
		{"a whole day", sh(2026, 3, 3, 8, 30), 8 * time.Hour, sh(2026, 3, 3, 17, 30)},
		{"landing on the shift end stays", sh(2026, 3, 3, 16, 30), time.Hour, sh(2026, 3, 3, 17, 30)},
		{"landing on the morning end stays", sh(2026, 3, 3, 11, 0), time.Hour, sh(2026, 3, 3, 12, 0)},
		{"before hours starts at 08:30", sh(2026, 3, 3, 6, 0), time.Hour, sh(2026, 3, 3, 9, 30)},
		{"after hours starts next morning", sh(2026, 3, 3, 20, 0), time.Hour, sh(2026, 3, 4, 9, 30)},
		{"at closing starts next morning", sh(2026, 3, 3, 17, 30), time.Hour, sh(2026, 3, 4, 9, 30)},
		{"friday into monday", sh(2026, 3, 6, 17, 0), time.Hour, sh(2026, 3, 9, 9, 0)},
		{"from a saturday", sh(2026, 3, 7, 10, 0), 4 * time.Hour, sh(2026, 3, 9, 13, 30)},
		{"4 hours from friday 16:00 over qingming", sh(2026, 4, 3, 16, 0), 4 * time.Hour, sh(2026, 4, 7, 11, 0)},
		{"4 hours from friday 16:00 into the make-up saturday", sh(2026, 2, 13, 16, 0), 4 * time.Hour, sh(2026, 2, 14, 11, 0)},
		{"12 hours from friday 16:00 over the spring festival", sh(2026, 2, 13, 16, 0), 12 * time.Hour, sh(2026, 2, 24, 11, 0)},
		{"from inside the spring festival", sh(2026, 2, 18, 10, 0), time.Hour, sh(2026, 2, 24, 9, 30)},
		{"make-up saturday counts", sh(2026, 2, 27, 17, 30), 4 * time.Hour, sh(2026, 2, 28, 13, 30)},
		{"national day week", sh(2026, 9, 30, 17, 0), 2 * time.Hour, sh(2026, 10, 8, 10, 0)},
		{"sub-second", sh(2026, 3, 3, 11, 59).Add(59*time.Second + 999*time.Millisecond), 2 * time.Millisecond, sh(2026, 3, 3, 13, 0).Add(time.Millisecond)},
		{"zero", sh(2026, 3, 7, 10, 0), 0, sh(2026, 3, 7, 10, 0)},
		{"negative", sh(2026, 3, 3, 10, 0), -time.Hour, sh(2026, 3, 3, 10, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.AddWorkingHours(tc.from, tc.d)
			if !got.Equal(tc.want) {
				t.Fatalf("got %s, want %s", got.In(c.Location()), tc.want.In(c.Location()))
			}
			if tc.d > 0 {
				if got.Location() != c.Location() {
					t.Errorf("result in %s, want %s", got.Location(), c.Location())
				}
				if wd := c.WorkingDuration(tc.from, got); wd != tc.d {
					t.Errorf("WorkingDuration back = %v, want %v", wd, tc.d)
				}
			}
		})
	}
}

func TestWorkingDuration(t *testing.T) {
	c := mustOfficial(t)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     time.Duration
	}{
		{"same shift", sh(2026, 3, 3, 9, 0), sh(2026, 3, 3, 10, 15), 75 * time.Minute},
		{"over lunch", sh(2026, 3, 3, 11, 0), sh(2026, 3, 3, 14, 0), 2 * time.Hour},
		{"inside lunch", sh(2026, 3, 3, 12, 5), sh(2026, 3, 3, 12, 55), 0},
		{"a night", sh(2026, 3, 3, 17, 30), sh(2026, 3, 4, 8, 30), 0},
		{"a calendar day", sh(2026, 3, 3, 0, 0), sh(2026, 3, 4, 0, 0), 8 * time.Hour},
		{"a week", sh(2026, 3, 2, 0, 0), sh(2026, 3, 9, 0, 0), 40 * time.Hour},
		{"friday 16:00 over qingming", sh(2026, 4, 3, 16, 0), sh(2026, 4, 7, 11, 0), 4 * time.Hour},
		{"the spring festival week", sh(2026, 2, 14, 0, 0), sh(2026, 3, 1, 0, 0), (1 + 4 + 1) * 8 * time.Hour},
		{"equal", sh(2026, 3, 3, 10, 0), sh(2026, 3, 3, 10, 0), 0},
		{"backwards", sh(2026, 3, 3, 11, 0), sh(2026, 3, 3, 10, 0), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.WorkingDuration(tc.from, tc.to); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}

	// A whole year is its working days times eight hours.
	work := 0
	for _, r := range c.CalendarRows(sh(2026, 1, 1, 0, 0), sh(2026, 12, 31, 0, 0)) {
		if r.IsWorkday {
			work++
		}
	}
	if work != 248 {
		t.Errorf("2026 has %d working days, want 248", work)
	}
	if got, want := c.WorkingDuration(sh(2026, 1, 1, 0, 0), sh(2027, 1, 1, 0, 0)), time.Duration(work)*8*time.Hour; got != want {
		t.Errorf("2026: %v, want %v", got, want)
	}
}

func TestAddWorkingDays(t *testing.T) {
	c := mustOfficial(t)
	for _, tc := range []struct {
		name string
		from time.Time
		n    int
		want time.Time
	}{
		{"next day, same clock", sh(2026, 3, 2, 10, 0), 1, sh(2026, 3, 3, 10, 0)},
		{"before hours keeps the clock", sh(2026, 3, 2, 7, 0), 1, sh(2026, 3, 3, 7, 0)},
		{"at midnight keeps the clock", sh(2026, 3, 2, 0, 0), 1, sh(2026, 3, 3, 0, 0)},
		{"in lunch keeps the clock", sh(2026, 3, 2, 12, 30), 1, sh(2026, 3, 3, 12, 30)},
		{"at closing keeps the clock", sh(2026, 3, 2, 17, 30), 1, sh(2026, 3, 3, 17, 30)},
		{"after hours ends at closing", sh(2026, 3, 2, 20, 0), 1, sh(2026, 3, 3, 17, 30)},
		{"friday evening", sh(2026, 3, 6, 20, 0), 1, sh(2026, 3, 9, 17, 30)},
		{"saturday ends at closing", sh(2026, 3, 7, 10, 0), 1, sh(2026, 3, 9, 17, 30)},
		{"from a holiday", sh(2026, 2, 18, 10, 0), 2, sh(2026, 2, 25, 17, 30)},
		{"7 working days over the spring festival", sh(2026, 2, 13, 10, 0), 7, sh(2026, 3, 2, 10, 0)},
		{"7 working days over national day (12315)", sh(2026, 9, 24, 15, 0), 7, sh(2026, 10, 12, 15, 0)},
		{"20 working days", sh(2026, 3, 2, 9, 0), 20, sh(2026, 3, 30, 9, 0)},
		{"into an uncovered year", sh(2026, 12, 31, 10, 0), 1, sh(2027, 1, 1, 10, 0)},
		{"zero", sh(2026, 3, 7, 10, 0), 0, sh(2026, 3, 7, 10, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.AddWorkingDays(tc.from, tc.n)
			if !got.Equal(tc.want) {
				t.Fatalf("got %s, want %s", got.In(c.Location()), tc.want.In(c.Location()))
			}
			if n := c.WorkingDays(tc.from, got); n != tc.n {
				t.Errorf("WorkingDays back = %d, want %d", n, tc.n)
			}
			if wd, want := c.WorkingDuration(tc.from, got), time.Duration(tc.n)*8*time.Hour; wd != want {
				t.Errorf("working time %v, want %v", wd, want)
			}
		})
	}
	if got, want := c.CloseOfBusiness(c.AddWorkingDays(sh(2026, 9, 24, 15, 0), 7)), sh(2026, 10, 12, 17, 30); !got.Equal(want) {
		t.Errorf("CloseOfBusiness = %s, want %s", got, want)
	}
}

func TestWorkingDays(t *testing.T) {
	c := mustOfficial(t)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     int
	}{
		{"same date", sh(2026, 3, 2, 8, 0), sh(2026, 3, 2, 23, 0), 0},
		{"next date", sh(2026, 3, 2, 23, 0), sh(2026, 3, 3, 0, 0), 1},
		{"over a weekend", sh(2026, 3, 6, 10, 0), sh(2026, 3, 9, 10, 0), 1},
		{"to a saturday", sh(2026, 3, 6, 10, 0), sh(2026, 3, 7, 10, 0), 0},
		{"spring festival", sh(2026, 2, 13, 10, 0), sh(2026, 3, 2, 10, 0), 7},
		{"backwards", sh(2026, 3, 9, 10, 0), sh(2026, 3, 6, 10, 0), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.WorkingDays(tc.from, tc.to); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// randomInstant returns an instant from 2019-01-01 to 2027-12-31 in
// Shanghai, at nanosecond resolution, in UTC.
func randomInstant(r *rand.Rand) time.Time {
	from := sh(2019, 1, 1, 0, 0)
	span := sh(2028, 1, 1, 0, 0).Sub(from)
	return from.Add(time.Duration(r.Int64N(int64(span))))
}

// randomWork returns a working duration from 0 to about a year, often a
// whole number of minutes as SLAs are.
func randomWork(r *rand.Rand) time.Duration {
	d := time.Duration(r.Int64N(int64(2000 * time.Hour)))
	if r.IntN(2) == 0 {
		d = d.Truncate(time.Minute)
	}
	return d
}

// TestWorkingTimeProperties checks, on random instants and durations of
// 2019–2027, that AddWorkingHours and WorkingDuration are inverse, that
// AddWorkingHours returns the first instant with that much working time,
// that WorkingDuration is additive, and the invariants of AddWorkingDays.
func TestWorkingTimeProperties(t *testing.T) {
	c := mustOfficial(t)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		at, d := randomInstant(r), randomWork(r)
		checkInverse(t, c, at, d)

		a, b := randomInstant(r), randomInstant(r)
		if b.Before(a) {
			a, b = b, a
		}
		mid := a.Add(time.Duration(r.Int64N(int64(b.Sub(a)) + 1)))
		if whole, parts := c.WorkingDuration(a, b), c.WorkingDuration(a, mid)+c.WorkingDuration(mid, b); whole != parts {
			t.Fatalf("WorkingDuration(%s, %s) = %v, but %v split at %s", a, b, whole, parts, mid)
		}

		n := r.IntN(30) + 1
		due := c.AddWorkingDays(at, n)
		if got := c.WorkingDays(at, due); got != n {
			t.Fatalf("WorkingDays(%s, AddWorkingDays(_, %d) = %s) = %d", at, n, due, got)
		}
		if got, want := c.WorkingDuration(at, due), time.Duration(n)*8*time.Hour; got != want {
			t.Fatalf("AddWorkingDays(%s, %d) = %s leaves %v of working time, want %v", at, n, due, got, want)
		}
	}
}

// checkInverse checks AddWorkingHours(at, d) against WorkingDuration.
func checkInverse(t testing.TB, c *Calendar, at time.Time, d time.Duration) {
	t.Helper()
	end := c.AddWorkingHours(at, d)
	if end.Before(at) {
		t.Fatalf("AddWorkingHours(%s, %v) = %s, before the start", at, d, end)
	}
	if got := c.WorkingDuration(at, end); got != d {
		t.Fatalf("WorkingDuration(%s, AddWorkingHours(_, %v) = %s) = %v", at, d, end, got)
	}
	if d > 0 {
		if got := c.WorkingDuration(at, end.Add(-time.Nanosecond)); got != d-time.Nanosecond {
			t.Fatalf("AddWorkingHours(%s, %v) = %s is not the first instant with that working time", at, d, end)
		}
		if !c.IsWorkday(end.Add(-time.Nanosecond)) {
			t.Fatalf("AddWorkingHours(%s, %v) = %s ends on a day off", at, d, end)
		}
	}
}

func TestWithHours(t *testing.T) {
	c := mustOfficial(t)
	day, err := c.WithHours(Hours{Start: 9 * time.Hour, End: 17 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := day.AddWorkingHours(sh(2026, 3, 3, 16, 0), 2*time.Hour), sh(2026, 3, 4, 10, 0); !got.Equal(want) {
		t.Errorf("one shift: %s, want %s", got, want)
	}
	if got := day.AddWorkingDays(sh(2026, 3, 3, 17, 30), 1); !got.Equal(sh(2026, 3, 4, 17, 0)) {
		t.Errorf("after hours with one shift: %s", got)
	}
	if len(c.Hours()) != 2 || c.Hours()[1].String() != "13:00–17:30" {
		t.Errorf("WithHours changed the original: %v", c.Hours())
	}
	allDay, err := c.WithHours(Hours{Start: 0, End: 12 * time.Hour}, Hours{Start: 12 * time.Hour, End: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := allDay.WorkingDuration(sh(2026, 3, 2, 0, 0), sh(2026, 3, 9, 0, 0)); got != 5*24*time.Hour {
		t.Errorf("round the clock: %v a week", got)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		checkInverse(t, allDay, randomInstant(r), randomWork(r))
		checkInverse(t, day, randomInstant(r), randomWork(r))
	}

	for _, tc := range []struct {
		name   string
		shifts []Hours
		want   string
	}{
		{"none", nil, "working hours: no shifts; give at least one, e.g. 08:30–17:30"},
		{"backwards", []Hours{{Start: 12 * time.Hour, End: 8 * time.Hour}},
			"working hours: shift 1 (12:00–08:00): start must be before end, both within 00:00–24:00"},
		{"past midnight", []Hours{{Start: 22 * time.Hour, End: 26 * time.Hour}},
			"working hours: shift 1 (22:00–26h0m0s): start must be before end, both within 00:00–24:00"},
		{"overlap", []Hours{{Start: 8 * time.Hour, End: 12*time.Hour + 30*time.Second}, {Start: 12 * time.Hour, End: 17 * time.Hour}},
			"working hours: shift 2 (12:00–17:00) starts before shift 1 (08:00–12:00:30) ends; list shifts in order, without overlap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.WithHours(tc.shifts...)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestCalendarRows(t *testing.T) {
	c := mustOfficial(t)
	rows := c.CalendarRows(sh(2026, 1, 1, 0, 0), sh(2026, 12, 31, 23, 59))
	if len(rows) != 365 {
		t.Fatalf("%d rows for 2026", len(rows))
	}
	var secs int64
	for i, r := range rows {
		if want := (Date{2026, 1, 1}).AddDays(i); r.Date != want {
			t.Fatalf("row %d is %s, want %s", i, r.Date, want)
		}
		if !r.Covered || r.IsWorkday != r.Kind.IsWorkday() || (r.WorkingSeconds == 28800) != r.IsWorkday {
			t.Errorf("%+v", r)
		}
		secs += r.WorkingSeconds
	}
	if got := c.WorkingDuration(sh(2026, 1, 1, 0, 0), sh(2027, 1, 1, 0, 0)); time.Duration(secs)*time.Second != got {
		t.Errorf("rows hold %ds of work, WorkingDuration says %v", secs, got)
	}
	for _, tc := range []struct {
		at   time.Time
		want Row
	}{
		{sh(2026, 2, 14, 0, 0), Row{Date: Date{2026, 2, 14}, Kind: MakeUpWorkday, IsWorkday: true, Holiday: "春节", WorkingSeconds: 28800, Covered: true}},
		{sh(2026, 2, 15, 0, 0), Row{Date: Date{2026, 2, 15}, Kind: Holiday, Holiday: "春节", Covered: true}},
		{sh(2018, 12, 30, 0, 0), Row{Date: Date{2018, 12, 30}, Kind: Holiday, Holiday: "元旦", Covered: true}},
		{sh(2018, 12, 3, 0, 0), Row{Date: Date{2018, 12, 3}, Kind: Workday, IsWorkday: true, WorkingSeconds: 28800}},
		{sh(2027, 1, 1, 0, 0), Row{Date: Date{2027, 1, 1}, Kind: Workday, IsWorkday: true, WorkingSeconds: 28800}},
	} {
		if got := c.CalendarRows(tc.at, tc.at); len(got) != 1 || got[0] != tc.want {
			t.Errorf("CalendarRows(%s) = %+v, want %+v", tc.want.Date, got, tc.want)
		}
	}
	if got := c.CalendarRows(sh(2026, 3, 2, 0, 0), sh(2026, 3, 1, 23, 0)); got != nil {
		t.Errorf("backwards: %d rows", len(got))
	}
}
