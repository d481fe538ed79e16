package simulate

import (
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
)

// local returns a time in Asia/Shanghai.
func local(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.FixedZone("CST", 8*3600))
}

func TestDayKind(t *testing.T) {
	c := OfficialCalendar()
	for _, tc := range []struct {
		name string
		t    time.Time
		want DayKind
	}{
		{"ordinary tuesday", local(2026, 3, 3, 10, 0), Workday},
		{"ordinary saturday", local(2026, 3, 7, 10, 0), Weekend},
		{"spring festival weekday", local(2026, 2, 18, 10, 0), Holiday},
		{"make-up saturday", local(2026, 2, 28, 10, 0), Workday},
		{"make-up sunday", local(2026, 1, 4, 10, 0), Workday},
		{"national day", local(2026, 10, 2, 10, 0), Holiday},
		{"local midnight decides, not UTC", time.Date(2026, 2, 27, 16, 30, 0, 0, time.UTC), Workday},
		{"after the table", local(2027, 6, 1, 10, 0), Workday},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Kind(tc.t); got != tc.want {
				t.Fatalf("Kind = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRhythm(t *testing.T) {
	c := OfficialCalendar()
	for _, tc := range []struct {
		name       string
		low, high  time.Time
		equal      bool
		maxLowRate float64 // low/high at most this
	}{
		{"night below day", local(2026, 3, 3, 3, 0), local(2026, 3, 3, 10, 0), false, 0.1},
		{"lunch below morning", local(2026, 3, 3, 12, 0), local(2026, 3, 3, 10, 0), false, 0.6},
		{"weekend below workday", local(2026, 3, 7, 10, 0), local(2026, 3, 3, 10, 0), false, 0.5},
		{"holiday below workday", local(2026, 10, 2, 10, 0), local(2026, 9, 29, 10, 0), false, 0.35},
		{"holiday below weekend", local(2026, 10, 3, 10, 0), local(2026, 3, 7, 10, 0), false, 0.7},
		{"make-up saturday as workday", local(2026, 2, 28, 10, 0), local(2026, 3, 3, 10, 0), true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi := c.Rhythm(tc.low), c.Rhythm(tc.high)
			if tc.equal {
				if lo != hi {
					t.Fatalf("rhythm %v vs %v, want equal", lo, hi)
				}
				return
			}
			if lo/hi > tc.maxLowRate {
				t.Fatalf("rhythm %.3f vs %.3f: ratio %.2f, want at most %.2f", lo, hi, lo/hi, tc.maxLowRate)
			}
		})
	}
	if got := c.Rhythm(local(2026, 3, 3, 9, 0)); got != 1 {
		t.Errorf("weekday peak = %v, want 1", got)
	}
}

func TestAddWorkingHours(t *testing.T) {
	c := OfficialCalendar()
	for _, tc := range []struct {
		name  string
		from  time.Time
		hours float64
		want  time.Time
	}{
		{"within the morning", local(2026, 3, 3, 9, 0), 2, local(2026, 3, 3, 11, 0)},
		{"over lunch", local(2026, 3, 3, 11, 0), 2, local(2026, 3, 3, 14, 0)},
		{"evening report starts next morning", local(2026, 3, 3, 20, 0), 1, local(2026, 3, 4, 9, 30)},
		{"friday into monday", local(2026, 3, 6, 17, 0), 1, local(2026, 3, 9, 9, 0)},
		{"over the spring festival", local(2026, 2, 13, 17, 0), 1, local(2026, 2, 14, 9, 0)},
		{"make-up saturday counts", local(2026, 2, 27, 17, 30), 4, local(2026, 2, 28, 13, 30)},
		{"landing on closing time stays", local(2026, 3, 3, 16, 30), 1, local(2026, 3, 3, 17, 30)},
		{"quarter of an hour", local(2026, 3, 3, 11, 50), 0.25, local(2026, 3, 3, 13, 5)},
		{"through the spring festival", local(2026, 2, 13, 17, 0), 9, local(2026, 2, 24, 9, 0)},
		{"zero hours", local(2026, 3, 7, 10, 0), 0, local(2026, 3, 7, 10, 0)},
		{"from a UTC instant", time.Date(2026, 3, 3, 1, 0, 0, 0, time.UTC), 1, local(2026, 3, 3, 10, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.AddWorkingHours(tc.from, tc.hours)
			if !got.Equal(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if _, off := got.Zone(); off != 8*3600 {
				t.Errorf("result in %v, want UTC+8", got.Location())
			}
		})
	}
}

// TestKindEveryDay2026 checks that every day of 2026 has the kind package
// calendar gives it, make-up working days counted as Workday.
func TestKindEveryDay2026(t *testing.T) {
	c := OfficialCalendar()
	full, err := calendar.Official()
	if err != nil {
		t.Fatal(err)
	}
	for d := local(2026, 1, 1, 12, 0); d.Year() == 2026; d = d.AddDate(0, 0, 1) {
		want := map[calendar.DayKind]DayKind{calendar.Workday: Workday, calendar.MakeUpWorkday: Workday, calendar.Weekend: Weekend, calendar.Holiday: Holiday}[full.Kind(d)]
		if got := c.Kind(d); got != want {
			t.Errorf("%s: %v, want %v", d.Format(time.DateOnly), got, want)
		}
	}
}
