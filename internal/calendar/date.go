package calendar

import (
	"fmt"
	"time"
)

// Date is a day of the civil calendar, without a time of day or a time zone.
// The zero Date is not a valid date.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses a date written exactly as YYYY-MM-DD (four-digit year,
// two-digit month and day, hyphens) and checks that the day exists.
func ParseDate(s string) (Date, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	date := Date{Year: y, Month: time.Month(m), Day: d}
	if !date.Valid() {
		return Date{}, fmt.Errorf("date %q: no such day", s)
	}
	return date, nil
}

// digits returns the value of a string of ASCII digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// Valid reports whether d names a day that exists: a month from 1 to 12 and
// a day within that month.
func (d Date) Valid() bool {
	if d.Month < time.January || d.Month > time.December || d.Day < 1 || d.Day > 31 {
		return false
	}
	return dateFromNum(d.num()) == d
}

// String formats d as YYYY-MM-DD.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday { return weekdayOfNum(d.num()) }

// AddDays returns the date n days after d (before it if n is negative).
func (d Date) AddDays(n int) Date { return dateFromNum(d.num() + int64(n)) }

// Compare returns -1 if d is before e, 0 if they are the same day and +1 if
// d is after e.
func (d Date) Compare(e Date) int {
	a, b := d.num(), e.num()
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// num returns the number of days from 1970-01-01 to d, negative before it.
// Out-of-range months and days are normalised as time.Date does.
func (d Date) num() int64 {
	return floorDiv(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix(), 86400)
}

// dateFromNum is the inverse of Date.num.
func dateFromNum(n int64) Date {
	y, m, d := time.Unix(n*86400, 0).UTC().Date()
	return Date{Year: y, Month: m, Day: d}
}

// weekdayOfNum returns the weekday of day number n; day 0, 1970-01-01, was
// a Thursday.
func weekdayOfNum(n int64) time.Weekday {
	return time.Weekday(((n % 7) + 7 + int64(time.Thursday)) % 7)
}

// floorDiv divides rounding towards negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
