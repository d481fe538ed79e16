package simulate

import (
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
)

// DayKind classifies a calendar day by whether people work on it.
type DayKind int

// The kinds of day on the official calendar.
const (
	// Workday is a Monday to Friday that is not a holiday, or a weekend day
	// declared a make-up working day (调休).
	Workday DayKind = iota
	// Weekend is a Saturday or Sunday that is not a make-up working day.
	Weekend
	// Holiday is an official public holiday (法定节假日 and the days joined to it).
	Holiday
)

// String returns the lowercase name of the day kind.
func (k DayKind) String() string {
	switch k {
	case Workday:
		return "workday"
	case Weekend:
		return "weekend"
	case Holiday:
		return "holiday"
	}
	return "unknown"
}

// Calendar is the official working-day calendar of mainland China, with the
// State Council's holidays and make-up working days, as package calendar
// keeps it. Days outside its data (after 2026) follow the plain
// Monday–Friday rule. Business time is Asia/Shanghai (UTC+8, no daylight
// saving since 1991).
type Calendar struct {
	cal  *calendar.Calendar
	zone *time.Location
}

// OfficialCalendar returns the calendar built from the holiday table
// compiled into package calendar.
func OfficialCalendar() *Calendar {
	cal, err := calendar.Official()
	if err != nil {
		// The table is compiled in and calendar's tests load it, so this
		// is a broken build, not a condition a caller could handle.
		panic(err)
	}
	// The simulator's own date arithmetic keeps the fixed UTC+8 zone it has
	// always used; it agrees with cal's Asia/Shanghai since 1991.
	return &Calendar{cal: cal, zone: calendar.Zone}
}

// shanghai returns the business time zone. A fixed offset avoids depending
// on the tz database being installed; China has not observed daylight saving
// since 1991.

// Kind returns the kind of the Asia/Shanghai calendar day that t falls on.
// Make-up working days are Workday.
func (c *Calendar) Kind(t time.Time) DayKind {
	switch c.cal.Kind(t) {
	case calendar.Weekend:
		return Weekend
	case calendar.Holiday:
		return Holiday
	}
	return Workday
}

// hourShape returns the daily-rhythm multiplier at the start of local hour h
// (taken modulo 24), 1.0 at the weekday peaks (09–10 and 15). Night is quiet;
// a morning peak follows the start of office hours, then a lunch dip, an
// afternoon peak and a long evening tail.
func hourShape(h int) float64 {
	shape := [24]float64{
		0.06, 0.05, 0.04, 0.04, 0.04, 0.06, // 00–05
		0.15, 0.40, 0.75, 1.00, 1.00, 0.85, // 06–11
		0.50, 0.60, 0.90, 1.00, 0.95, 0.70, // 12–17
		0.45, 0.35, 0.28, 0.20, 0.12, 0.08, // 18–23
	}
	return shape[((h%24)+24)%24]
}

// dayFactor returns the multiplier of a day kind.
func dayFactor(k DayKind) float64 {
	switch k {
	case Weekend:
		return 0.45
	case Holiday:
		return 0.30
	}
	return 1.0
}

// Rhythm returns the multiplier applied to the configured peak rate at
// instant t: the daily shape of the local hour (interpolated by minute) times
// the day factor (workday 1.0, weekend 0.45, holiday 0.30). It is 1.0 at the
// weekday peaks and 0.012 at its lowest (04:00 on a holiday).
func (c *Calendar) Rhythm(t time.Time) float64 {
	lt := t.In(c.zone)
	h := lt.Hour()
	frac := (float64(lt.Minute()) + float64(lt.Second())/60) / 60
	shape := hourShape(h)*(1-frac) + hourShape(h+1)*frac
	return shape * dayFactor(c.Kind(t))
}

// AddWorkingHours returns the instant h working hours after t, counting the
// office hours 08:30–12:00 and 13:00–17:30 of working days. Source systems
// compute deadlines (处置时限) this way.
func (c *Calendar) AddWorkingHours(t time.Time, h float64) time.Time {
	return c.cal.AddWorkingHours(t, time.Duration(h*float64(time.Hour))).In(c.zone)
}
