package queries

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/yiwang-gov/yiwang/internal/anomaly"
	"github.com/yiwang-gov/yiwang/internal/calendar"
)

// RuleResult counts what one run of a rule changed in the anomalies.
type RuleResult struct {
	Periods int
	anomaly.Result
}

// RunRule runs the rule q for every period that overlaps [from, to) and has
// begun by now, and records what it flags as anomalies (anomaly.Apply):
// new subjects open, changed ones update, subjects no longer flagged
// resolve. Each period is one transaction.
//
// A rule's SQL runs with $period_start, $period_end and $as_of bound as for
// an indicator, and its parameters. Areas judge by their own mode: the
// statement runs once with the normal parameters, whose flags count for
// the areas in normal mode, and, while any area is in emergency, once more
// with the emergency parameters, whose flags count for the areas in
// emergency (an area is when it or an area above it is).
func RunRule(ctx context.Context, db *sql.DB, q *Query, from, to time.Time, runID string, now time.Time) (RuleResult, error) {
	var res RuleResult
	if q.Kind != KindRule {
		return res, fmt.Errorf("run rule %s: it is an indicator", q.Name)
	}
	if runID == "" {
		return res, errors.New("run rule: empty run id")
	}
	emergency, err := emergencyAreaSet(ctx, db)
	if err != nil {
		return res, fmt.Errorf("run rule %s: %w", q.Name, err)
	}
	for start := q.Period.Start(from, calendar.Zone); start.Before(to) && start.Before(now); start = q.Period.Next(start) {
		end := q.Period.Next(start)
		r, err := runRulePeriod(ctx, db, q, start, end, minTime(end, now), runID, now, emergency)
		if err != nil {
			return res, fmt.Errorf("run rule %s for the %s from %s: %w", q.Name, q.Period, start.Format(time.RFC3339), err)
		}
		res.Periods++
		res.Opened += r.Opened
		res.Updated += r.Updated
		res.Resolved += r.Resolved
		res.Unchanged += r.Unchanged
	}
	return res, nil
}

// areaSet is the set of areas in emergency mode.
type areaSet struct {
	all   bool // the district is: every area is
	codes map[string]bool
}

func (s areaSet) has(code string) bool { return s.all || s.codes[code] }
func (s areaSet) empty() bool          { return !s.all && len(s.codes) == 0 }

// emergencyAreaSet reads the areas in emergency: those switched, and every
// area below one of them in the code tree.
func emergencyAreaSet(ctx context.Context, db *sql.DB) (areaSet, error) {
	s := areaSet{codes: map[string]bool{}}
	rows, err := db.QueryContext(ctx, `WITH RECURSIVE down(code) AS (
  SELECT area_code FROM area_modes WHERE mode = 'emergency'
  UNION
  SELECT a.code FROM areas a JOIN down d ON a.parent_code = d.code
) SELECT code FROM down`)
	if err != nil {
		return s, fmt.Errorf("read the areas in emergency: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return s, fmt.Errorf("read the areas in emergency: %w", err)
		}
		s.codes[c] = true
		s.all = s.all || c == DistrictCode
	}
	return s, rows.Err()
}

func runRulePeriod(ctx context.Context, db *sql.DB, q *Query, start, end, asOf time.Time, runID string, now time.Time, emergency areaSet) (anomaly.Result, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return anomaly.Result{}, err
	}
	defer func() { _ = tx.Rollback() }()
	flags, err := ruleFlags(ctx, tx, q, start, end, asOf, Normal)
	if err != nil {
		return anomaly.Result{}, err
	}
	kept := flags[:0]
	for _, f := range flags {
		if !emergency.has(f.Area) {
			kept = append(kept, f)
		}
	}
	mode := Normal
	if !emergency.empty() {
		ef, err := ruleFlags(ctx, tx, q, start, end, asOf, Emergency)
		if err != nil {
			return anomaly.Result{}, err
		}
		for _, f := range ef {
			if emergency.has(f.Area) {
				kept = append(kept, f)
				mode = Emergency
			}
		}
	}
	res, err := anomaly.Apply(ctx, tx, anomaly.Run{Rule: q.Name, RecordTable: q.Records, Severity: q.Severity, Mode: string(mode),
		PeriodStart: start, PeriodEnd: end, RunID: runID, Now: now, Flags: kept})
	if err != nil {
		return res, err
	}
	return res, tx.Commit()
}

// ruleFlags runs a rule's statement for one period with the parameters of
// mode.
func ruleFlags(ctx context.Context, tx *sql.Tx, q *Query, start, end, asOf time.Time, mode Mode) ([]anomaly.Flag, error) {
	rows, err := tx.QueryContext(ctx, q.statement(), q.bind(start, end, asOf, mode)...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []anomaly.Flag
	for rows.Next() {
		var subject, area, detail sql.NullString
		var observed, expected sql.NullFloat64
		var records []any
		if err := rows.Scan(&subject, &area, &observed, &expected, &detail, &records); err != nil {
			return nil, fmt.Errorf("read a flagged row: %w", err)
		}
		if !subject.Valid || subject.String == "" {
			return nil, fmt.Errorf("a row without a subject: every flagged row names what it concerns")
		}
		f := anomaly.Flag{Subject: subject.String, Area: area.String, Observed: orNaN(observed), Expected: orNaN(expected), Detail: detail.String}
		for _, r := range records {
			if s, ok := r.(string); ok {
				f.Records = append(f.Records, s)
			}
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func orNaN(f sql.NullFloat64) float64 {
	if !f.Valid {
		return math.NaN()
	}
	return f.Float64
}
