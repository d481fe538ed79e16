package simulate

import (
	"bufio"
	"strings"
	"time"
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
// State Council's holidays and make-up working days. Days outside the table
// (after 2026) follow the plain Monday–Friday rule. Business time is
// Asia/Shanghai (UTC+8, no daylight saving since 1991).
type Calendar struct {
	days map[string]DayKind // YYYY-MM-DD → Holiday or Workday, exceptions only
	zone *time.Location
}

// OfficialCalendar returns the calendar built from the holiday table compiled
// into the package.
func OfficialCalendar() *Calendar {
	c := &Calendar{days: make(map[string]DayKind, 300), zone: shanghai()}
	sc := bufio.NewScanner(strings.NewReader(officialDays))
	for sc.Scan() {
		date, rest, ok := strings.Cut(sc.Text(), ",")
		if !ok || date == "date" {
			continue
		}
		kind, _, _ := strings.Cut(rest, ",")
		switch kind {
		case "off":
			c.days[date] = Holiday
		case "work":
			c.days[date] = Workday
		}
	}
	return c
}

// shanghai returns the business time zone. A fixed offset avoids depending
// on the tz database being installed; China has not observed daylight saving
// since 1991.
func shanghai() *time.Location { return time.FixedZone("CST", 8*3600) }

// Kind returns the kind of the Asia/Shanghai calendar day that t falls on.
func (c *Calendar) Kind(t time.Time) DayKind {
	t = t.In(c.zone)
	if k, ok := c.days[t.Format(time.DateOnly)]; ok {
		return k
	}
	switch t.Weekday() {
	case time.Saturday, time.Sunday:
		return Weekend
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
	left := time.Duration(h * float64(time.Hour))
	lt := t.In(c.zone)
	for i := 0; i < 3660 && left > 0; i++ { // at most ten years of days
		y, m, d := lt.Date()
		day := time.Date(y, m, d, 0, 0, 0, 0, c.zone)
		if c.Kind(day) == Workday {
			for _, span := range [2][2]time.Duration{{510 * time.Minute, 720 * time.Minute}, {780 * time.Minute, 1050 * time.Minute}} {
				from, to := day.Add(span[0]), day.Add(span[1])
				if lt.Before(from) {
					lt = from
				}
				if !lt.Before(to) {
					continue
				}
				avail := to.Sub(lt)
				if left <= avail {
					return lt.Add(left)
				}
				left -= avail
				lt = to
			}
		}
		lt = day.AddDate(0, 0, 1)
	}
	return lt
}

// officialDays is data/holidays/cn_official_days.csv of the project's shared
// reference data: the State Council's holidays (off) and make-up working days
// (work), 2019–2026, compiled by the MIT-licensed holiday-cn project
// (github.com/NateScarlet/holiday-cn).
const officialDays = `
date,kind,holiday
2018-12-29,work,元旦
2018-12-30,off,元旦
2018-12-31,off,元旦
2019-01-01,off,元旦
2019-02-02,work,春节
2019-02-03,work,春节
2019-02-04,off,春节
2019-02-05,off,春节
2019-02-06,off,春节
2019-02-07,off,春节
2019-02-08,off,春节
2019-02-09,off,春节
2019-02-10,off,春节
2019-04-05,off,清明节
2019-04-28,work,劳动节
2019-05-01,off,劳动节
2019-05-02,off,劳动节
2019-05-03,off,劳动节
2019-05-04,off,劳动节
2019-05-05,work,劳动节
2019-06-07,off,端午节
2019-09-13,off,中秋节
2019-09-29,work,国庆节
2019-10-01,off,国庆节
2019-10-02,off,国庆节
2019-10-03,off,国庆节
2019-10-04,off,国庆节
2019-10-05,off,国庆节
2019-10-06,off,国庆节
2019-10-07,off,国庆节
2019-10-12,work,国庆节
2020-01-01,off,元旦
2020-01-19,work,春节
2020-01-24,off,春节
2020-01-25,off,春节
2020-01-26,off,春节
2020-01-27,off,春节
2020-01-28,off,春节
2020-01-29,off,春节
2020-01-30,off,春节
2020-01-31,off,春节
2020-02-01,off,春节
2020-02-02,off,春节
2020-02-03,work,春节
2020-04-04,off,清明节
2020-04-05,off,清明节
2020-04-06,off,清明节
2020-04-26,work,劳动节
2020-05-01,off,劳动节
2020-05-02,off,劳动节
2020-05-03,off,劳动节
2020-05-04,off,劳动节
2020-05-05,off,劳动节
2020-05-09,work,劳动节
2020-06-25,off,端午节
2020-06-26,off,端午节
2020-06-27,off,端午节
2020-06-28,work,端午节
2020-09-27,work,国庆节、中秋节
2020-10-01,off,国庆节、中秋节
2020-10-02,off,国庆节、中秋节
2020-10-03,off,国庆节、中秋节
2020-10-04,off,国庆节、中秋节
2020-10-05,off,国庆节、中秋节
2020-10-06,off,国庆节、中秋节
2020-10-07,off,国庆节、中秋节
2020-10-08,off,国庆节、中秋节
2020-10-10,work,国庆节、中秋节
2021-01-01,off,元旦
2021-01-02,off,元旦
2021-01-03,off,元旦
2021-02-07,work,春节
2021-02-11,off,春节
2021-02-12,off,春节
2021-02-13,off,春节
2021-02-14,off,春节
2021-02-15,off,春节
2021-02-16,off,春节
2021-02-17,off,春节
2021-02-20,work,春节
2021-04-03,off,清明节
2021-04-04,off,清明节
2021-04-05,off,清明节
2021-04-25,work,劳动节
2021-05-01,off,劳动节
2021-05-02,off,劳动节
2021-05-03,off,劳动节
2021-05-04,off,劳动节
2021-05-05,off,劳动节
2021-05-08,work,劳动节
2021-06-12,off,端午节
2021-06-13,off,端午节
2021-06-14,off,端午节
2021-09-18,work,中秋节
2021-09-19,off,中秋节
2021-09-20,off,中秋节
2021-09-21,off,中秋节
2021-09-26,work,国庆节
2021-10-01,off,国庆节
2021-10-02,off,国庆节
2021-10-03,off,国庆节
2021-10-04,off,国庆节
2021-10-05,off,国庆节
2021-10-06,off,国庆节
2021-10-07,off,国庆节
2021-10-09,work,国庆节
2022-01-01,off,元旦
2022-01-02,off,元旦
2022-01-03,off,元旦
2022-01-29,work,春节
2022-01-30,work,春节
2022-01-31,off,春节
2022-02-01,off,春节
2022-02-02,off,春节
2022-02-03,off,春节
2022-02-04,off,春节
2022-02-05,off,春节
2022-02-06,off,春节
2022-04-02,work,清明节
2022-04-03,off,清明节
2022-04-04,off,清明节
2022-04-05,off,清明节
2022-04-24,work,劳动节
2022-04-30,off,劳动节
2022-05-01,off,劳动节
2022-05-02,off,劳动节
2022-05-03,off,劳动节
2022-05-04,off,劳动节
2022-05-07,work,劳动节
2022-06-03,off,端午节
2022-06-04,off,端午节
2022-06-05,off,端午节
2022-09-10,off,中秋节
2022-09-11,off,中秋节
2022-09-12,off,中秋节
2022-10-01,off,国庆节
2022-10-02,off,国庆节
2022-10-03,off,国庆节
2022-10-04,off,国庆节
2022-10-05,off,国庆节
2022-10-06,off,国庆节
2022-10-07,off,国庆节
2022-10-08,work,国庆节
2022-10-09,work,国庆节
2022-12-31,off,元旦
2023-01-01,off,元旦
2023-01-02,off,元旦
2023-01-21,off,春节
2023-01-22,off,春节
2023-01-23,off,春节
2023-01-24,off,春节
2023-01-25,off,春节
2023-01-26,off,春节
2023-01-27,off,春节
2023-01-28,work,春节
2023-01-29,work,春节
2023-04-05,off,清明节
2023-04-23,work,劳动节
2023-04-29,off,劳动节
2023-04-30,off,劳动节
2023-05-01,off,劳动节
2023-05-02,off,劳动节
2023-05-03,off,劳动节
2023-05-06,work,劳动节
2023-06-22,off,端午节
2023-06-23,off,端午节
2023-06-24,off,端午节
2023-06-25,work,端午节
2023-09-29,off,中秋节、国庆节
2023-09-30,off,中秋节、国庆节
2023-10-01,off,中秋节、国庆节
2023-10-02,off,中秋节、国庆节
2023-10-03,off,中秋节、国庆节
2023-10-04,off,中秋节、国庆节
2023-10-05,off,中秋节、国庆节
2023-10-06,off,中秋节、国庆节
2023-10-07,work,中秋节、国庆节
2023-10-08,work,中秋节、国庆节
2024-01-01,off,元旦
2024-02-04,work,春节
2024-02-10,off,春节
2024-02-11,off,春节
2024-02-12,off,春节
2024-02-13,off,春节
2024-02-14,off,春节
2024-02-15,off,春节
2024-02-16,off,春节
2024-02-17,off,春节
2024-02-18,work,春节
2024-04-04,off,清明节
2024-04-05,off,清明节
2024-04-06,off,清明节
2024-04-07,work,清明节
2024-04-28,work,劳动节
2024-05-01,off,劳动节
2024-05-02,off,劳动节
2024-05-03,off,劳动节
2024-05-04,off,劳动节
2024-05-05,off,劳动节
2024-05-11,work,劳动节
2024-06-10,off,端午节
2024-09-14,work,中秋节
2024-09-15,off,中秋节
2024-09-16,off,中秋节
2024-09-17,off,中秋节
2024-09-29,work,国庆节
2024-10-01,off,国庆节
2024-10-02,off,国庆节
2024-10-03,off,国庆节
2024-10-04,off,国庆节
2024-10-05,off,国庆节
2024-10-06,off,国庆节
2024-10-07,off,国庆节
2024-10-12,work,国庆节
2025-01-01,off,元旦
2025-01-26,work,春节
2025-01-28,off,春节
2025-01-29,off,春节
2025-01-30,off,春节
2025-01-31,off,春节
2025-02-01,off,春节
2025-02-02,off,春节
2025-02-03,off,春节
2025-02-04,off,春节
2025-02-08,work,春节
2025-04-04,off,清明节
2025-04-05,off,清明节
2025-04-06,off,清明节
2025-04-27,work,劳动节
2025-05-01,off,劳动节
2025-05-02,off,劳动节
2025-05-03,off,劳动节
2025-05-04,off,劳动节
2025-05-05,off,劳动节
2025-05-31,off,端午节
2025-06-01,off,端午节
2025-06-02,off,端午节
2025-09-28,work,国庆节、中秋节
2025-10-01,off,国庆节、中秋节
2025-10-02,off,国庆节、中秋节
2025-10-03,off,国庆节、中秋节
2025-10-04,off,国庆节、中秋节
2025-10-05,off,国庆节、中秋节
2025-10-06,off,国庆节、中秋节
2025-10-07,off,国庆节、中秋节
2025-10-08,off,国庆节、中秋节
2025-10-11,work,国庆节、中秋节
2026-01-01,off,元旦
2026-01-02,off,元旦
2026-01-03,off,元旦
2026-01-04,work,元旦
2026-02-14,work,春节
2026-02-15,off,春节
2026-02-16,off,春节
2026-02-17,off,春节
2026-02-18,off,春节
2026-02-19,off,春节
2026-02-20,off,春节
2026-02-21,off,春节
2026-02-22,off,春节
2026-02-23,off,春节
2026-02-28,work,春节
2026-04-04,off,清明节
2026-04-05,off,清明节
2026-04-06,off,清明节
2026-05-01,off,劳动节
2026-05-02,off,劳动节
2026-05-03,off,劳动节
2026-05-04,off,劳动节
2026-05-05,off,劳动节
2026-05-09,work,劳动节
2026-06-19,off,端午节
2026-06-20,off,端午节
2026-06-21,off,端午节
2026-09-20,work,国庆节
2026-09-25,off,中秋节
2026-09-26,off,中秋节
2026-09-27,off,中秋节
2026-10-01,off,国庆节
2026-10-02,off,国庆节
2026-10-03,off,国庆节
2026-10-04,off,国庆节
2026-10-05,off,国庆节
2026-10-06,off,国庆节
2026-10-07,off,国庆节
2026-10-10,work,国庆节
`
