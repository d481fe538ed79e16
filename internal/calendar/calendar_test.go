package calendar

import (
	"bytes"
	"encoding/csv"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// mustOfficial returns the embedded calendar or stops the test.
func mustOfficial(t testing.TB) *Calendar {
	t.Helper()
	c, err := Official()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sh returns the instant of a Shanghai wall-clock time, in UTC: tests never
// build times in Asia/Shanghai or time.Local, so they show that the package
// converts by itself.
func sh(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC).Add(-8 * time.Hour)
}

func TestOfficialYears(t *testing.T) {
	c := mustOfficial(t)
	if first, last := c.Years(); first != 2019 || last != 2026 {
		t.Errorf("Years() = %d, %d, want 2019, 2026", first, last)
	}
	for y, want := range map[int]bool{2018: false, 2019: true, 2023: true, 2026: true, 2027: false} {
		if got := c.Covers(y); got != want {
			t.Errorf("Covers(%d) = %v, want %v", y, got, want)
		}
	}
	if got := c.Location().String(); got != "Asia/Shanghai" && got != "CST" {
		t.Errorf("location %q", got)
	}
}

// csvKinds reads the embedded file with encoding/csv, independently of
// Load, and returns each listed date's kind by the rule of the data README.
func csvKinds(t *testing.T) map[string]DayKind {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(officialCSV)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]DayKind{}
	for _, r := range recs[1:] {
		d, err := time.Parse(time.DateOnly, r[0])
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r[1] == "off":
			kinds[r[0]] = Holiday
		case d.Weekday() == time.Saturday || d.Weekday() == time.Sunday:
			kinds[r[0]] = MakeUpWorkday
		default:
			kinds[r[0]] = Workday
		}
	}
	return kinds
}

// TestKindEveryDate classifies every date from 2018-12-01 to 2027-12-31 at
// three instants of its Shanghai day (00:00, 12:00, 23:59:59.999999999),
// taken in UTC, against the CSV: all of 2026 included.
func TestKindEveryDate(t *testing.T) {
	c := mustOfficial(t)
	kinds := csvKinds(t)
	seen := 0
	for d := time.Date(2018, 12, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2028; d = d.AddDate(0, 0, 1) {
		key := d.Format(time.DateOnly)
		want, listed := kinds[key]
		if listed {
			seen++
		} else if d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
			want = Weekend
		} else {
			want = Workday
		}
		midnight := d.Add(-8 * time.Hour) // Shanghai 00:00 as a UTC instant
		for _, at := range []time.Time{midnight, midnight.Add(12 * time.Hour), midnight.Add(24*time.Hour - 1)} {
			if got := c.Kind(at); got != want {
				t.Errorf("Kind(%s = %s in Shanghai) = %v, want %v", at.Format(time.RFC3339Nano), key, got, want)
			}
			if got := c.IsWorkday(at); got != want.IsWorkday() {
				t.Errorf("IsWorkday(%s) = %v", key, got)
			}
		}
		if got := c.DateOf(midnight).String(); got != key {
			t.Errorf("DateOf(%s) = %s, want %s", midnight, got, key)
		}
	}
	if seen != len(kinds) {
		t.Errorf("checked %d listed dates of %d", seen, len(kinds))
	}
}

func TestKind(t *testing.T) {
	c := mustOfficial(t)
	for _, tc := range []struct {
		name string
		t    time.Time
		want DayKind
	}{
		{"ordinary tuesday", sh(2026, 3, 3, 10, 0), Workday},
		{"ordinary saturday", sh(2026, 3, 7, 10, 0), Weekend},
		{"spring festival sunday", sh(2026, 2, 15, 10, 0), Holiday},
		{"spring festival weekday", sh(2026, 2, 18, 10, 0), Holiday},
		{"last day of the spring festival", sh(2026, 2, 23, 23, 59), Holiday},
		{"back to work", sh(2026, 2, 24, 0, 0), Workday},
		{"make-up saturday before", sh(2026, 2, 14, 10, 0), MakeUpWorkday},
		{"make-up saturday after", sh(2026, 2, 28, 10, 0), MakeUpWorkday},
		{"make-up sunday", sh(2026, 1, 4, 10, 0), MakeUpWorkday},
		{"national day", sh(2026, 10, 2, 10, 0), Holiday},
		{"work row on a monday stays a workday", sh(2020, 2, 3, 10, 0), Workday},
		{"december day of the next notice", sh(2018, 12, 30, 10, 0), Holiday},
		{"uncovered new year's day", sh(2027, 1, 1, 10, 0), Workday},
		{"uncovered saturday", sh(2027, 1, 2, 10, 0), Weekend},
		{"far future", sh(2100, 6, 1, 10, 0), Workday},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Kind(tc.t); got != tc.want {
				t.Fatalf("Kind = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSpringFestival2026 checks the whole 2026 Spring Festival: 02-14 and
// 02-28 are make-up working Saturdays, 02-15 to 02-23 are off.
func TestSpringFestival2026(t *testing.T) {
	c := mustOfficial(t)
	rows := c.CalendarRows(sh(2026, 2, 13, 12, 0), sh(2026, 3, 1, 12, 0))
	want := map[int]DayKind{13: Workday, 14: MakeUpWorkday, 28: MakeUpWorkday}
	for d := 15; d <= 23; d++ {
		want[d] = Holiday
	}
	for d := 24; d <= 27; d++ {
		want[d] = Workday
	}
	for _, r := range rows {
		if r.Date.Month != time.February {
			continue
		}
		if r.Kind != want[r.Date.Day] {
			t.Errorf("%s: %v, want %v", r.Date, r.Kind, want[r.Date.Day])
		}
		if (r.Holiday == "春节") != (r.Date.Day == 14 || r.Date.Day >= 15 && r.Date.Day <= 23 || r.Date.Day == 28) {
			t.Errorf("%s: holiday %q", r.Date, r.Holiday)
		}
	}
}

// TestDayBoundary puts instants either side of 00:00 Asia/Shanghai, given
// in UTC, where the UTC date has not changed.
func TestDayBoundary(t *testing.T) {
	c := mustOfficial(t)
	for _, tc := range []struct {
		utc  string
		want DayKind
	}{
		{"2026-02-13T15:59:59Z", Workday},       // Fri 23:59:59
		{"2026-02-13T16:00:00Z", MakeUpWorkday}, // Sat 02-14 00:00
		{"2026-02-14T15:59:59.999999999Z", MakeUpWorkday},
		{"2026-02-14T16:00:00Z", Holiday}, // Sun 02-15 00:00
		{"2026-02-14T16:30:00Z", Holiday}, // 00:30, still the 14th in UTC
		{"2026-02-23T15:59:59Z", Holiday}, // Mon 02-23 23:59:59
		{"2026-02-23T16:00:00Z", Workday}, // Tue 02-24 00:00
		{"2026-12-31T16:00:00Z", Workday}, // Fri 2027-01-01, not covered
	} {
		at, err := time.Parse(time.RFC3339Nano, tc.utc)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Kind(at); got != tc.want {
			t.Errorf("Kind(%s) = %v, want %v", tc.utc, got, tc.want)
		}
	}
	// Working time across the boundary: the make-up Saturday's shifts count,
	// the holiday Sunday's do not.
	from, _ := time.Parse(time.RFC3339, "2026-02-13T00:00:00Z") // Fri 08:00
	to, _ := time.Parse(time.RFC3339, "2026-02-15T04:00:00Z")   // Sun 12:00
	if got, want := c.WorkingDuration(from, to), 16*time.Hour; got != want {
		t.Errorf("WorkingDuration over the boundary = %v, want %v", got, want)
	}
}

// TestProcessTimeZoneIgnored runs TestDayBoundary and TestAddWorkingHours in
// processes whose local zone is UTC and America/New_York: the package must
// never read time.Local.
func TestProcessTimeZoneIgnored(t *testing.T) {
	if testing.Short() {
		t.Skip("starts test processes")
	}
	for _, tz := range []string{"UTC", "America/New_York"} {
		cmd := exec.Command(os.Args[0], "-test.run=^(TestDayBoundary|TestAddWorkingHours|TestAddWorkingDays)$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TZ="+tz)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("TZ=%s: %v\n%s", tz, err, out)
		}
	}
}

func TestZoneFallback(t *testing.T) {
	c, err := official(func(string) (*time.Location, error) { return nil, errors.New("no tz database") })
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Location().String(); got != "CST" {
		t.Errorf("fallback zone %q, want CST", got)
	}
	real := mustOfficial(t)
	for _, at := range []time.Time{sh(2026, 2, 13, 16, 0), sh(2019, 1, 1, 0, 0), sh(2026, 2, 14, 23, 59)} {
		if c.Kind(at) != real.Kind(at) {
			t.Errorf("Kind(%s) differs with the fixed zone", at)
		}
		if a, b := c.AddWorkingHours(at, 20*time.Hour), real.AddWorkingHours(at, 20*time.Hour); !a.Equal(b) {
			t.Errorf("AddWorkingHours(%s) = %s with the fixed zone, %s with tzdata", at, a, b)
		}
	}
}

func TestWith(t *testing.T) {
	c := mustOfficial(t)
	extra := loadFile(t, "testdata/fictional_2027.csv")
	c27, err := c.With(extra...)
	if err != nil {
		t.Fatal(err)
	}
	if first, last := c27.Years(); first != 2019 || last != 2027 {
		t.Errorf("Years() = %d, %d, want 2019, 2027", first, last)
	}
	if !c27.Covers(2027) || c.Covers(2027) {
		t.Error("Covers(2027) should change on the new calendar only")
	}
	for _, tc := range []struct {
		at   time.Time
		want DayKind
	}{
		{sh(2026, 12, 31, 10, 0), Holiday}, // joined to 2027's New Year
		{sh(2027, 1, 1, 10, 0), Holiday},
		{sh(2027, 2, 6, 10, 0), MakeUpWorkday},
		{sh(2027, 2, 10, 10, 0), Holiday},
	} {
		if got := c27.Kind(tc.at); got != tc.want {
			t.Errorf("with 2027: Kind(%s) = %v, want %v", tc.at, got, tc.want)
		}
		if got := c.Kind(tc.at); got == tc.want && tc.want != Workday {
			t.Errorf("With changed the original calendar at %s", tc.at)
		}
	}

	// The same date with the same kind is accepted; the first name stays.
	same, err := c.With(Day{Date: Date{2026, 10, 1}, Kind: Holiday, Holiday: "国庆"})
	if err != nil {
		t.Fatal(err)
	}
	if r := same.CalendarRows(sh(2026, 10, 1, 12, 0), sh(2026, 10, 1, 12, 0)); r[0].Holiday != "国庆节" {
		t.Errorf("holiday %q, want the original 国庆节", r[0].Holiday)
	}

	for _, tc := range []struct {
		name string
		days []Day
		want string
	}{
		{"other kind, built in code", []Day{{Date: Date{2026, 2, 14}, Kind: Holiday, Holiday: "春节"}},
			"day 0: date 2026-02-14 is off (春节) here but work (春节) in internal/calendar/cn_official_days.csv:253; keep one of the two"},
		{"other kind, from a file", loadFile(t, "testdata/conflict.csv"),
			"conflict.csv:2: date 2026-10-10 is off (国庆节) here but work (国庆节) in internal/calendar/cn_official_days.csv:287; keep one of the two"},
		{"a year skipped", []Day{{Date: Date{2028, 5, 1}, Kind: Holiday, Holiday: "劳动节"}},
			"calendar has days for 2019 to 2028 but none for 2027; add the days of the missing years too"},
		{"not a day", []Day{{Date: Date{2027, 2, 29}, Kind: Holiday, Holiday: "春节"}},
			"day 0 (2027-02-29): date 2027-02-29 does not exist; give a real day"},
		{"not an exceptional kind", []Day{{Date: Date{2027, 3, 6}, Kind: Weekend, Holiday: "x"}},
			"day 0 (2027-03-06): kind weekend; an exceptional day is a holiday (off) or a makeup_workday (work)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := c.With(tc.days...)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v\nwant  %s", err, tc.want)
			}
			if n != nil {
				t.Error("With returned a calendar with its error")
			}
		})
	}
}

// loadFile loads a calendar file named by its base name in messages.
func loadFile(t *testing.T, path string) []Day {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	days, err := Load(bytes.NewReader(data), path[strings.LastIndex(path, "/")+1:])
	if err != nil {
		t.Fatal(err)
	}
	return days
}

func TestBeyondCoverage(t *testing.T) {
	c := mustOfficial(t)
	// Every day of 2027 and 2040 follows Monday to Friday.
	for _, y := range []int{2027, 2040} {
		for _, r := range c.CalendarRows(sh(y, 1, 1, 0, 0), sh(y, 12, 31, 0, 0)) {
			wd := r.Date.Weekday()
			want := wd != time.Saturday && wd != time.Sunday
			if r.IsWorkday != want || r.Covered || r.Holiday != "" {
				t.Fatalf("%s (%v): %+v", r.Date, wd, r)
			}
		}
	}
	// A deadline running out of the covered years: Thursday 2026-12-31
	// 17:00 plus one hour is Friday 2027-01-01 09:00 until 2027 is added.
	if got, want := c.AddWorkingHours(sh(2026, 12, 31, 17, 0), time.Hour), sh(2027, 1, 1, 9, 0); !got.Equal(want) {
		t.Errorf("into 2027: %s, want %s", got, want)
	}
}

func TestDayKindString(t *testing.T) {
	for k, want := range map[DayKind]string{Workday: "workday", Weekend: "weekend", Holiday: "holiday", MakeUpWorkday: "makeup_workday", 9: "DayKind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("%d: %q, want %q", int(k), got, want)
		}
	}
}

func TestParseDate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Date
		ok   bool
	}{
		{"2026-02-28", Date{2026, 2, 28}, true},
		{"2024-02-29", Date{2024, 2, 29}, true},
		{"2026-02-29", Date{}, false},
		{"2026-04-31", Date{}, false},
		{"2026-00-10", Date{}, false},
		{"2026-2-01", Date{}, false},
		{"2026-02-1", Date{}, false},
		{"2026/02/01", Date{}, false},
		{"+026-02-01", Date{}, false},
		{" 2026-02-01", Date{}, false},
		{"２０２6-02-01", Date{}, false},
		{"", Date{}, false},
	} {
		got, err := ParseDate(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDate(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}

func TestDateArithmetic(t *testing.T) {
	if n := (Date{1970, 1, 1}).num(); n != 0 {
		t.Errorf("1970-01-01 is day %d", n)
	}
	if n := (Date{1969, 12, 31}).num(); n != -1 {
		t.Errorf("1969-12-31 is day %d", n)
	}
	for n := int64(-800_000); n < 800_000; n += 997 {
		d := dateFromNum(n)
		if d.num() != n {
			t.Fatalf("day %d → %s → %d", n, d, d.num())
		}
		want := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Weekday()
		if d.Weekday() != want {
			t.Fatalf("%s: weekday %v, want %v", d, d.Weekday(), want)
		}
	}
	d := Date{2026, 2, 28}
	if got := d.AddDays(1); got != (Date{2026, 3, 1}) {
		t.Errorf("AddDays(1) = %s", got)
	}
	if d.Compare(Date{2026, 3, 1}) != -1 || d.Compare(d) != 0 || d.Compare(Date{2025, 12, 31}) != 1 {
		t.Error("Compare")
	}
}
