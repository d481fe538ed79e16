package calendar

import "time"

// Row is one date of the calendar as the store's calendar table holds it,
// so that SQL can count working days and hours with joins.
type Row struct {
	// Date is the Asia/Shanghai date.
	Date Date
	// Kind is the kind of the day.
	Kind DayKind
	// IsWorkday is Kind.IsWorkday(): Workday and MakeUpWorkday.
	IsWorkday bool
	// Holiday is the holiday an exceptional day belongs to (春节 for both
	// the days off and the make-up working days of the Spring Festival),
	// empty on ordinary days.
	Holiday string
	// WorkingSeconds is the working time of the day in seconds: the sum of
	// the shifts on a working day (28800 by default), 0 otherwise.
	WorkingSeconds int64
	// Covered reports whether official data decides the date: its year is
	// covered, or a notice of the next year lists it (2018-12-30 is in the
	// notice for 2019). Other dates follow the Monday–Friday rule and may
	// change once their notice is added.
	Covered bool
}

// CalendarRows returns one row per Asia/Shanghai date from the date of from
// to the date of to, both included, in order; none if to's date is before
// from's.
func (c *Calendar) CalendarRows(from, to time.Time) []Row {
	first, last := c.dayNum(from), c.dayNum(to)
	if last < first {
		return nil
	}
	rows := make([]Row, 0, last-first+1)
	for n := first; n <= last; n++ {
		k := c.kindOf(n)
		date := dateFromNum(n)
		exc, listed := c.exc[n]
		r := Row{Date: date, Kind: k, IsWorkday: k.IsWorkday(), Holiday: exc.Holiday, Covered: listed || c.Covers(date.Year)}
		if r.IsWorkday {
			var work time.Duration
			for _, h := range c.shifts {
				work += c.at(n, h.End).Sub(c.at(n, h.Start))
			}
			r.WorkingSeconds = int64(work / time.Second)
		}
		rows = append(rows, r)
	}
	return rows
}
