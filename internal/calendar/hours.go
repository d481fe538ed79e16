package calendar

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Hours is one shift of working time on every working day, from Start to
// End after midnight, read as Asia/Shanghai wall-clock times:
// Hours{Start: 8*time.Hour + 30*time.Minute, End: 12 * time.Hour} is
// 08:30–12:00. A shift never spans midnight; End may be 24h.
type Hours struct {
	Start, End time.Duration
}

// String formats h as "08:30–12:00", with seconds when they are not zero.
func (h Hours) String() string { return clock(h.Start) + "–" + clock(h.End) }

// clock formats a time of day as hh:mm, hh:mm:ss or hh:mm:ss.nnnnnnnnn.
func clock(d time.Duration) string {
	if d < 0 || d > 24*time.Hour {
		return d.String()
	}
	h, m, s, ns := d/time.Hour, d/time.Minute%60, d/time.Second%60, d%time.Second
	switch {
	case ns != 0:
		return fmt.Sprintf("%02d:%02d:%02d.%09d", h, m, s, ns)
	case s != 0:
		return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d", h, m)
}

// DefaultHours returns the default office hours, 08:30–12:00 and
// 13:00–17:30: eight working hours a day. Offices that keep summer and
// winter hours (夏季/冬季作息时间) need a calendar per season from WithHours.
func DefaultHours() []Hours {
	return []Hours{
		{Start: 8*time.Hour + 30*time.Minute, End: 12 * time.Hour},
		{Start: 13 * time.Hour, End: 17*time.Hour + 30*time.Minute},
	}
}

// Hours returns the shifts of a working day, in order.
func (c *Calendar) Hours() []Hours { return slices.Clone(c.shifts) }

// WithHours returns a calendar with the same days as c and the given shifts
// as working hours. Shifts must lie within 00:00–24:00, each start before
// its end, in order and without overlap (one may start where the previous
// ends); there must be at least one. Every problem is reported, one per line
// of the error.
func (c *Calendar) WithHours(shifts ...Hours) (*Calendar, error) {
	if len(shifts) == 0 {
		return nil, errors.New("working hours: no shifts; give at least one, e.g. 08:30–17:30")
	}
	var probs []error
	for i, h := range shifts {
		if h.Start < 0 || h.End > 24*time.Hour || h.Start >= h.End {
			probs = append(probs, fmt.Errorf("working hours: shift %d (%s): start must be before end, both within 00:00–24:00", i+1, h))
			continue
		}
		if i > 0 && h.Start < shifts[i-1].End {
			probs = append(probs, fmt.Errorf("working hours: shift %d (%s) starts before shift %d (%s) ends; list shifts in order, without overlap", i+1, h, i, shifts[i-1]))
		}
	}
	if len(probs) > 0 {
		return nil, errors.Join(probs...)
	}
	n := *c
	n.shifts = slices.Clone(shifts)
	return &n, nil
}

// WorkingDuration returns the working time between the instants from and
// to: the parts of the shifts of working days that lie between them. It is
// 0 if to is not after from, and additive: for from ≤ mid ≤ to,
// WorkingDuration(from, to) = WorkingDuration(from, mid) +
// WorkingDuration(mid, to).
func (c *Calendar) WorkingDuration(from, to time.Time) time.Duration {
	if !from.Before(to) {
		return 0
	}
	var sum time.Duration
	last := c.dayNum(to)
	for n := c.dayNum(from); n <= last; n++ {
		if !c.kindOf(n).IsWorkday() {
			continue
		}
		for _, h := range c.shifts {
			start, end := c.at(n, h.Start), c.at(n, h.End)
			if start.Before(from) {
				start = from
			}
			if end.After(to) {
				end = to
			}
			if start.Before(end) {
				sum += end.Sub(start)
			}
		}
	}
	return sum
}

// AddWorkingHours returns the instant when d of working time has elapsed
// after t, as SLAs in 工作时 count: "4个工作时" is AddWorkingHours(t,
// 4*time.Hour). Time outside the shifts of working days does not count, so
// a t outside them starts at the next shift start, and a deadline that uses
// up a shift exactly stays at that shift's end (17:30, not 08:30 of the next
// working day). WorkingDuration(t, AddWorkingHours(t, d)) == d. A d of zero
// or less returns t unchanged; other results are in the calendar's location.
func (c *Calendar) AddWorkingHours(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return t
	}
	t = t.Round(0) // compare by wall clock only
	for n := c.dayNum(t); ; n++ {
		if !c.kindOf(n).IsWorkday() {
			continue
		}
		for _, h := range c.shifts {
			end := c.at(n, h.End)
			if !t.Before(end) {
				continue
			}
			start := c.at(n, h.Start)
			if start.Before(t) {
				start = t
			}
			if avail := end.Sub(start); d > avail {
				d -= avail
				continue
			}
			return start.Add(d).In(c.loc)
		}
	}
}

// AddWorkingDays returns the deadline n working days after t, counted as
// Chinese notices count "7个工作日": the date of t is day 0 and never counts,
// even if t is early on a working day (开始的当日不计入, Civil Code art. 201);
// day 1 is the first working day after it. The deadline falls on day n:
//
//   - at t's wall-clock time, if t is on a working day and not after the end
//     of its last shift (17:30 by default): Monday 10:00 plus one working day
//     is Tuesday 10:00, Monday 07:00 plus one is Tuesday 07:00;
//   - at the end of its last shift, if t is after hours on a working day or
//     on a weekend or holiday: a report on Friday at 20:00 or on Saturday
//     plus one working day is due Monday 17:30, as if it had come in at the
//     close of the last working day.
//
// Either way the deadline leaves n whole working days of working time, so
// WorkingDuration(t, AddWorkingDays(t, n)) is n times the length of a
// working day and WorkingDays(t, AddWorkingDays(t, n)) is n. A legal period
// that ends when business closes on its last day (Civil Code art. 203) ends
// at CloseOfBusiness(AddWorkingDays(t, n)). An n of zero or less returns t
// unchanged; other results are in the calendar's location.
func (c *Calendar) AddWorkingDays(t time.Time, n int) time.Time {
	if n <= 0 {
		return t
	}
	day, clk := c.clockOf(t)
	closing := c.shifts[len(c.shifts)-1].End
	if !c.kindOf(day).IsWorkday() || clk > closing {
		clk = closing
	}
	for left := n; left > 0; {
		day++
		if c.kindOf(day).IsWorkday() {
			left--
		}
	}
	return c.at(day, clk)
}

// CloseOfBusiness returns the end of the last shift on the Asia/Shanghai
// date of t (17:30 by default), whether or not that date is a working day.
func (c *Calendar) CloseOfBusiness(t time.Time) time.Time {
	return c.at(c.dayNum(t), c.shifts[len(c.shifts)-1].End)
}

// WorkingDays returns the number of working days after the Asia/Shanghai
// date of from, up to and including the date of to: 0 for a to on from's
// own date, 1 for a to on the next working day, and so on. It counts dates
// as AddWorkingDays does, not how much working time has passed (that is
// WorkingDuration), so a case received Monday at 10:00 and closed Tuesday
// at 16:00 took one working day though its deadline of one working day,
// Tuesday 10:00, has passed. It is 0 if to is not after from.
func (c *Calendar) WorkingDays(from, to time.Time) int {
	if !from.Before(to) {
		return 0
	}
	count := 0
	last := c.dayNum(to)
	for n := c.dayNum(from) + 1; n <= last; n++ {
		if c.kindOf(n).IsWorkday() {
			count++
		}
	}
	return count
}
