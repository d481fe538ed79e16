package detect

import (
	"fmt"
	"sort"
)

// The classes of day a daily count is compared within.
const (
	ClassWorkday  = "workday" // Monday to Friday, and make-up working days (调休)
	ClassDayOff   = "dayoff"  // weekends and public holidays
	classFestival = "festival:"
)

// Day is one calendar day as the calendar table holds it.
type Day struct {
	Date    string // YYYY-MM-DD, Asia/Shanghai
	Workday bool   // a working day, make-up working days included
	Holiday string // the holiday it belongs to (春节 ...), "" for none
}

// DayClasses returns the class of every day: the N-th day off of a year's
// Spring Festival holiday is "festival:N", compared with the same day of
// last year's holiday (the festival moves between January and February,
// so the calendar month is no baseline); other days are working days or
// days off.
func DayClasses(days []Day) map[string]string {
	sorted := append([]Day(nil), days...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Date < sorted[j].Date })
	out := make(map[string]string, len(days))
	n := 0 // the day's place in a run of Spring Festival days off
	for _, d := range sorted {
		switch {
		case d.Holiday == "春节" && !d.Workday:
			n++
			out[d.Date] = fmt.Sprintf("%s%d", classFestival, n)
			continue
		case d.Workday:
			out[d.Date] = ClassWorkday
		default:
			out[d.Date] = ClassDayOff
		}
		n = 0
	}
	return out
}
