package queries

import (
	"time"
)

// Period is the length of the periods an indicator is computed for. Periods
// are calendar periods of Asia/Shanghai: a day starts at 00:00 there, a week
// on Monday, a month on its first day, a quarter in January, April, July or
// October, a half-year in January or July. A period is the half-open
// interval [start, end).
type Period string

// The periods.
const (
	Day      Period = "day"
	Week     Period = "week"
	Month    Period = "month"
	Quarter  Period = "quarter"
	HalfYear Period = "half_year"
	Year     Period = "year"
)

var periods = []Period{Day, Week, Month, Quarter, HalfYear, Year}

// Start returns the start of the period that contains t.
func (p Period) Start(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	y, m, d := t.Date()
	switch p {
	case Week:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, m, d-back, 0, 0, 0, 0, loc)
	case Month:
		return time.Date(y, m, 1, 0, 0, 0, 0, loc)
	case Quarter:
		return time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, loc)
	case HalfYear:
		return time.Date(y, m-(m-1)%6, 1, 0, 0, 0, 0, loc)
	case Year:
		return time.Date(y, 1, 1, 0, 0, 0, 0, loc)
	}
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// Next returns the start of the period after the one starting at start.
func (p Period) Next(start time.Time) time.Time {
	switch p {
	case Week:
		return start.AddDate(0, 0, 7)
	case Month:
		return start.AddDate(0, 1, 0)
	case Quarter:
		return start.AddDate(0, 3, 0)
	case HalfYear:
		return start.AddDate(0, 6, 0)
	case Year:
		return start.AddDate(1, 0, 0)
	}
	return start.AddDate(0, 0, 1)
}
