package queries

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/yiwang-gov/yiwang/internal/anomaly"
	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/detect"
)

// Detect runs q's detectors alone over the periods that overlap [from,
// to) and have begun by now, on the cells already stored, as Run does after
// computing them.
func Detect(ctx context.Context, db *sql.DB, q *Query, from, to time.Time, runID string, now time.Time) (anomaly.Result, error) {
	return runDetectors(ctx, db, q, q.Period.Start(from, calendar.Zone), to, runID, now)
}

// series is one area's cells of an indicator, by period.
type series struct {
	level, area, parent string
	points              []detect.Point
	at                  map[int64]int // period start (Unix) → index
	peers               []*series     // peersOf, set once all are read
	// own and theirs are the running sums of its counts and its peers'
	// mean counts before each index (scale).
	own, theirs []float64
}

// runDetectors runs q's detectors (detect: in its header) on the periods
// from first to to that have begun by now, over the latest cells and as
// much history as the detectors compare with, and records what they flag
// as anomalies of the rule "<indicator>.<detector>" with the area as
// subject: one Apply per detector and period, each period one
// transaction. Areas in emergency are judged with the emergency
// parameters.
func runDetectors(ctx context.Context, db *sql.DB, q *Query, first, to time.Time, runID string, now time.Time) (anomaly.Result, error) {
	var total anomaly.Result
	if len(q.Detect) == 0 {
		return total, nil
	}
	all, err := loadSeries(ctx, db, q, historyStart(q, first), to)
	if err != nil {
		return total, err
	}
	for _, s := range all {
		s.peers = peersOf(s, all)
	}
	emergency, err := emergencyAreaSet(ctx, db)
	if err != nil {
		return total, err
	}
	for _, d := range q.Detect {
		rule := AnomalyRule(q.Name, d.Rule)
		if err := markExcluded(ctx, db, rule, all); err != nil {
			return total, err
		}
		for start := first; start.Before(to) && start.Before(now); start = q.Period.Next(start) {
			var flags []anomaly.Flag
			mode := Normal
			for _, s := range all {
				if !slices.Contains(d.Levels, Level(s.level)) {
					continue
				}
				i, ok := s.at[start.Unix()]
				if !ok {
					continue
				}
				m := Normal
				if emergency.has(s.area) {
					m = Emergency
				}
				f := judge(q, d, m, s, i)
				if !f.Flag {
					continue
				}
				if m == Emergency {
					mode = Emergency
				}
				flags = append(flags, anomaly.Flag{Subject: s.area, Area: s.area, Observed: f.Observed, Expected: f.Expected,
					Detail: fmt.Sprintf("%s of %s %s in the %s from %s: %s against %s (%s; score %.2f)", q.Title.En, s.level, s.area, q.Period,
						start.In(calendar.Zone).Format(time.DateOnly), number(f.Observed), number(f.Expected), f.Baseline, f.Score)})
			}
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return total, err
			}
			r, err := anomaly.Apply(ctx, tx, anomaly.Run{Rule: rule, Severity: d.Severity, Mode: string(mode),
				PeriodStart: start, PeriodEnd: q.Period.Next(start), RunID: runID, Now: now, Flags: flags})
			if err == nil {
				err = tx.Commit()
			}
			if err != nil {
				_ = tx.Rollback()
				return total, fmt.Errorf("detector %s: %w", rule, err)
			}
			total.Opened += r.Opened
			total.Updated += r.Updated
			total.Resolved += r.Resolved
			total.Unchanged += r.Unchanged
		}
	}
	return total, nil
}

func number(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.1f", f)
}

// judge applies detector d in mode m to point i of s. A count's cold
// start takes its peers' mean count scaled to its size (scale); a rate is
// compared with its peers' rates.
func judge(q *Query, d Detector, m Mode, s *series, i int) detect.Finding {
	vals := d.ParamsFor(m)
	p := detect.Params{Z: vals["z"], Window: int(vals["window"]), MinCount: vals["min_count"], MinChange: vals["min_change"],
		MinHistory: int(vals["min_history"]), MinDen: vals["min_den"], Points: vals["points"], Periods: int(vals["periods"]), Days: int(vals["days"]),
		Higher: q.Direction == HigherIsBetter}
	switch d.Rule {
	case "poisson":
		peerMean := math.NaN()
		if rates := s.peerRates(i); len(rates) > 0 {
			var sum float64
			for _, r := range rates {
				sum += r.Num
			}
			peerMean = sum / float64(len(rates)) * scale(s, i)
		}
		return detect.Poisson(s.points, i, p, peerMean)
	case "robust":
		return detect.Robust(s.points, i, p)
	case "funnel":
		return detect.Funnel(s.points[i].Num, s.points[i].Den, s.peerRates(i), p)
	case "drop":
		return detect.Drop(s.points, i, p)
	case "rising":
		return detect.Rising(s.points, i, p)
	}
	return detect.Finding{}
}

// peerRates returns the cells of s's peers in the period of its point i.
func (s *series) peerRates(i int) []detect.Rate {
	start := s.points[i].Start.Unix()
	var out []detect.Rate
	for _, o := range s.peers {
		if j, ok := o.at[start]; ok {
			out = append(out, detect.Rate{Num: o.points[j].Num, Den: o.points[j].Den})
		}
	}
	return out
}

// peersOf returns the peers of s among all: the same level under the same
// parent, or, for an area alone under its parent (a county's only street
// here), the whole level.
func peersOf(s *series, all []*series) []*series {
	var out []*series
	for _, sameParent := range []bool{true, false} {
		for _, o := range all {
			if o != s && o.level == s.level && (!sameParent || o.parent == s.parent) {
				out = append(out, o)
			}
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}

// scale is the size of s against its peers' mean over the periods before
// i: what their mean count is scaled by to be s's baseline in a cold start
// (a street twice its peers' size expects twice their count). 1 when
// neither has counted anything yet. The sums are kept with s, computed
// once.
func scale(s *series, i int) float64 {
	if s.own == nil {
		s.own, s.theirs = make([]float64, len(s.points)+1), make([]float64, len(s.points)+1)
		for j, pt := range s.points {
			var sum float64
			n := 0
			for _, o := range s.peers {
				if k, ok := o.at[pt.Start.Unix()]; ok {
					sum += o.points[k].Num
					n++
				}
			}
			s.own[j+1], s.theirs[j+1] = s.own[j], s.theirs[j]
			if n > 0 {
				s.own[j+1] += pt.Num
				s.theirs[j+1] += sum / float64(n)
			}
		}
	}
	if s.own[i] <= 0 || s.theirs[i] <= 0 {
		return 1
	}
	return s.own[i] / s.theirs[i]
}

// historyStart is how far before first the detectors read: a year and a
// month for daily series (last year's Spring Festival), six periods
// otherwise.
func historyStart(q *Query, first time.Time) time.Time {
	if q.Period == Day {
		return first.AddDate(0, 0, -400)
	}
	t := first
	for range 6 {
		t = q.Period.Start(t.Add(-time.Nanosecond), calendar.Zone)
	}
	return t
}

// loadSeries reads q's latest cells at its detectors' levels from from to
// to, as one series per area, with the parents of the areas and, for
// daily series, the class of each day (working day, day off, Spring
// Festival day).
func loadSeries(ctx context.Context, db *sql.DB, q *Query, from, to time.Time) ([]*series, error) {
	var levels []string
	for _, d := range q.Detect {
		for _, l := range d.Levels {
			if !slices.Contains(levels, string(l)) {
				levels = append(levels, string(l))
			}
		}
	}
	var classes map[string]string
	if q.Period == Day {
		var err error
		if classes, err = dayClasses(ctx, db); err != nil {
			return nil, err
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT v.level, v.area_code, coalesce(a.parent_code, ''), v.period_start, v.numerator, v.denominator
FROM indicator_values_latest v LEFT JOIN areas a ON a.code = v.area_code
WHERE v.name = ? AND v.period_start >= ? AND v.period_start < ? AND list_contains(string_split(?, ','), v.level)
ORDER BY v.level, v.area_code, v.period_start`, q.Name, from, to, strings.Join(levels, ","))
	if err != nil {
		return nil, fmt.Errorf("read the cells of %s: %w", q.Name, err)
	}
	defer func() { _ = rows.Close() }()
	var out []*series
	var cur *series
	for rows.Next() {
		var level, area, parent string
		var start time.Time
		var num, den float64
		if err := rows.Scan(&level, &area, &parent, &start, &num, &den); err != nil {
			return nil, fmt.Errorf("read the cells of %s: %w", q.Name, err)
		}
		if cur == nil || cur.level != level || cur.area != area {
			cur = &series{level: level, area: area, parent: parent, at: map[int64]int{}}
			out = append(out, cur)
		}
		pt := detect.Point{Start: start, Num: num, Den: den}
		if classes != nil {
			pt.Class = classes[start.In(calendar.Zone).Format(time.DateOnly)]
		}
		cur.at[start.Unix()] = len(cur.points)
		cur.points = append(cur.points, pt)
	}
	return out, rows.Err()
}

// dayClasses classes the days of the calendar table.
func dayClasses(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT strftime(date, '%Y-%m-%d'), is_workday, coalesce(holiday, '') FROM calendar`)
	if err != nil {
		return nil, fmt.Errorf("read the calendar: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var days []detect.Day
	for rows.Next() {
		var d detect.Day
		if err := rows.Scan(&d.Date, &d.Workday, &d.Holiday); err != nil {
			return nil, fmt.Errorf("read the calendar: %w", err)
		}
		days = append(days, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return detect.DayClasses(days), nil
}

// markExcluded marks the points people marked false positives or known
// incidents of rule, which baselines leave out.
func markExcluded(ctx context.Context, db *sql.DB, rule string, all []*series) error {
	rows, err := db.QueryContext(ctx, `SELECT area_code, period_start FROM (`+anomaly.Excluded+`) WHERE rule = ?`, rule)
	if err != nil {
		return fmt.Errorf("read the excluded periods of %s: %w", rule, err)
	}
	defer func() { _ = rows.Close() }()
	excluded := map[string]bool{}
	for rows.Next() {
		var area string
		var start time.Time
		if err := rows.Scan(&area, &start); err != nil {
			return err
		}
		excluded[fmt.Sprintf("%s/%d", area, start.Unix())] = true
	}
	for _, s := range all {
		for i := range s.points {
			s.points[i].Excluded = excluded[fmt.Sprintf("%s/%d", s.area, s.points[i].Start.Unix())]
		}
	}
	return rows.Err()
}
