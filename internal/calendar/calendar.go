package calendar

import (
	"bytes"
	_ "embed" // the official days are compiled in
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// officialCSV is cn_official_days.csv, read-only.
//
//go:embed cn_official_days.csv
var officialCSV []byte

// officialName is how messages name the embedded file: by its path in the
// repository, where a fix would go.
const officialName = "internal/calendar/cn_official_days.csv"

// DayKind classifies a calendar day by whether people work on it.
type DayKind int

// The kinds of day on the official calendar.
const (
	// Workday is a Monday to Friday that is not a holiday.
	Workday DayKind = iota
	// Weekend is a Saturday or Sunday that is neither a holiday nor a
	// make-up working day.
	Weekend
	// Holiday is a day off by State Council notice: a public holiday
	// (法定节假日) or a day joined to it, on a weekday or a weekend.
	Holiday
	// MakeUpWorkday is a Saturday or Sunday declared a working day (调休);
	// it is a working day like Workday.
	MakeUpWorkday
)

// String returns the name of the kind as the calendar table stores it:
// workday, weekend, holiday or makeup_workday.
func (k DayKind) String() string {
	switch k {
	case Workday:
		return "workday"
	case Weekend:
		return "weekend"
	case Holiday:
		return "holiday"
	case MakeUpWorkday:
		return "makeup_workday"
	}
	return fmt.Sprintf("DayKind(%d)", int(k))
}

// IsWorkday reports whether people work on a day of kind k: Workday and
// MakeUpWorkday.
func (k DayKind) IsWorkday() bool { return k == Workday || k == MakeUpWorkday }

// Calendar is the official working-day calendar of mainland China on
// Asia/Shanghai dates, with working hours. It is immutable: With and
// WithHours return a new Calendar, so one value may be shared between
// goroutines. The zero Calendar is not usable; start from Official.
type Calendar struct {
	loc         *time.Location
	exc         map[int64]Day // day number → exceptional day
	first, last int           // covered years; last < first when none is
	shifts      []Hours
}

// Official returns the calendar of the State Council notices compiled into
// the package, with the default working hours (DefaultHours). Its error can
// only come from a broken embedded file, which the package's tests rule out.
func Official() (*Calendar, error) { return official(time.LoadLocation) }

// official is Official with the time-zone loader injected, so tests can
// check the fallback when no tz database is installed.
func official(load func(string) (*time.Location, error)) (*Calendar, error) {
	days, err := Load(bytes.NewReader(officialCSV), officialName)
	if err != nil {
		return nil, fmt.Errorf("load official calendar: %w", err)
	}
	c := &Calendar{loc: shanghai(load), exc: map[int64]Day{}, first: 0, last: -1, shifts: DefaultHours()}
	return c.With(days...)
}

// Zone is the business time zone, the one zone every date and period of
// yiwang is in: Asia/Shanghai, or UTC+8 where the machine has no tz
// database (see shanghai). Every package takes it from here.
var Zone = shanghai(time.LoadLocation)

// shanghai returns Asia/Shanghai from the tz database, or a fixed UTC+8
// zone named CST when the database is missing. The two agree on every
// instant since 1991-09-15, when China last left daylight saving time.
func shanghai(load func(string) (*time.Location, error)) *time.Location {
	if loc, err := load("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*60*60)
}

// With returns a calendar with days added to c's, such as a year's notice
// that a deployment loaded with Load before a release carries it. A date
// already known with the same kind is left as it is (its holiday name
// included); a date given with the other kind is an error naming both
// sources. The covered years must stay contiguous. Every problem is reported,
// one per line of the error; c itself never changes.
func (c *Calendar) With(days ...Day) (*Calendar, error) {
	if err := checkDays(days, false); err != nil {
		return nil, err
	}
	n := &Calendar{loc: c.loc, exc: make(map[int64]Day, len(c.exc)+len(days)), first: c.first, last: c.last, shifts: c.shifts}
	for k, d := range c.exc {
		n.exc[k] = d
	}
	var probs []error
	for i, d := range days {
		k := d.Date.num()
		old, ok := n.exc[k]
		if !ok {
			n.exc[k] = d
			continue
		}
		if old.Kind != d.Kind {
			probs = append(probs, fmt.Errorf("%s: date %s is %s (%s) here but %s (%s) in %s; keep one of the two",
				where(d, fmt.Sprintf("day %d", i)), d.Date, fileKind(d.Kind), d.Holiday,
				fileKind(old.Kind), old.Holiday, where(old, "a day given before")))
		}
	}
	years := map[int]bool{}
	for _, d := range n.exc {
		years[noticeYear(d)] = true
	}
	n.first, n.last = 0, -1
	for y := range years {
		if n.last < n.first {
			n.first, n.last = y, y
		}
		n.first, n.last = min(n.first, y), max(n.last, y)
	}
	var gaps []string
	for y := n.first; y <= n.last; y++ {
		if !years[y] {
			gaps = append(gaps, fmt.Sprint(y))
		}
	}
	if len(gaps) > 0 {
		probs = append(probs, fmt.Errorf("calendar has days for %d to %d but none for %s; add the days of the missing years too",
			n.first, n.last, strings.Join(gaps, ", ")))
	}
	if len(probs) > 0 {
		return nil, errors.Join(probs...)
	}
	return n, nil
}

// where returns d's source, or alt for a day built in code.
func where(d Day, alt string) string {
	if d.Source != "" {
		return d.Source
	}
	return alt
}

// fileKind returns the kind of an exceptional day as a file writes it.
func fileKind(k DayKind) string {
	if k == MakeUpWorkday {
		return "work"
	}
	return "off"
}

// noticeYear returns the year whose notice lists d. Notices for year Y may
// start the New Year holiday (元旦) in the last days of December of Y-1, as
// the notice for 2019 does with 2018-12-29 to 12-31; every other day belongs
// to the year it falls in.
func noticeYear(d Day) int {
	if d.Date.Month == time.December && strings.Contains(d.Holiday, "元旦") {
		return d.Date.Year + 1
	}
	return d.Date.Year
}

// Years returns the first and last year the calendar has official data for;
// every year between them is covered (With keeps them contiguous). For the
// embedded data they are 2019 and 2026. last < first if no year is covered.
func (c *Calendar) Years() (first, last int) { return c.first, c.last }

// Covers reports whether the calendar has official data for year. Dates of
// other years follow the plain rule: Monday to Friday are working days,
// Saturday and Sunday are not. A year's notice is published each November,
// so a deadline running into next year may move once it is added.
func (c *Calendar) Covers(year int) bool { return c.first <= year && year <= c.last }

// Location returns the calendar's time zone: Asia/Shanghai, or a fixed
// UTC+8 zone named CST where the tz database is missing. Instants the
// calendar returns are in it.
func (c *Calendar) Location() *time.Location { return c.loc }

// DateOf returns the Asia/Shanghai date of the instant t, whatever t's own
// location.
func (c *Calendar) DateOf(t time.Time) Date {
	y, m, d := t.In(c.loc).Date()
	return Date{Year: y, Month: m, Day: d}
}

// Kind returns the kind of the Asia/Shanghai date of the instant t:
// 2026-02-14T16:30:00Z is 2026-02-15 00:30 in Shanghai, a holiday, although
// it is still the 14th, a make-up working day, in UTC.
func (c *Calendar) Kind(t time.Time) DayKind { return c.kindOf(c.dayNum(t)) }

// IsWorkday reports whether the Asia/Shanghai date of t is a working day.
func (c *Calendar) IsWorkday(t time.Time) bool { return c.Kind(t).IsWorkday() }

// Days returns the exceptional days of the calendar in date order.
func (c *Calendar) Days() []Day {
	days := make([]Day, 0, len(c.exc))
	for _, d := range c.exc {
		days = append(days, d)
	}
	slices.SortFunc(days, func(a, b Day) int { return a.Date.Compare(b.Date) })
	return days
}

// kindOf returns the kind of day number n. A "work" row on a Monday to
// Friday (the data has one: 2020-02-03, the end of the extended Spring
// Festival) changes nothing, so the day stays a plain Workday.
func (c *Calendar) kindOf(n int64) DayKind {
	wd := weekdayOfNum(n)
	weekend := wd == time.Saturday || wd == time.Sunday
	if d, ok := c.exc[n]; ok {
		if d.Kind == Holiday {
			return Holiday
		}
		if weekend {
			return MakeUpWorkday
		}
		return Workday
	}
	if weekend {
		return Weekend
	}
	return Workday
}

// dayNum returns the day number of the Asia/Shanghai date of t.
func (c *Calendar) dayNum(t time.Time) int64 {
	_, off := t.In(c.loc).Zone()
	return floorDiv(t.Unix()+int64(off), 86400)
}

// clockOf returns the day number of t's Asia/Shanghai date and t's wall
// clock on it, as the time since midnight.
func (c *Calendar) clockOf(t time.Time) (int64, time.Duration) {
	_, off := t.In(c.loc).Zone()
	wall := t.Unix() + int64(off)
	n := floorDiv(wall, 86400)
	return n, time.Duration(wall-n*86400)*time.Second + time.Duration(t.Nanosecond())
}

// at returns the instant of wall clock off after midnight on day number n.
// It goes through time.Date so that it stays right on a day when the zone's
// offset changes (which Asia/Shanghai last did in 1991).
func (c *Calendar) at(n int64, off time.Duration) time.Time {
	d := dateFromNum(n)
	h := off / time.Hour
	off -= h * time.Hour
	m := off / time.Minute
	off -= m * time.Minute
	s := off / time.Second
	off -= s * time.Second
	return time.Date(d.Year, d.Month, d.Day, int(h), int(m), int(s), int(off), c.loc)
}
