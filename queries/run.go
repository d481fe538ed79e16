package queries

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/yiwang-gov/yiwang/internal/anomaly"
	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/store"
)

// migrations are the tables this package owns: indicator values with
// their views, thresholds, the areas' modes (平急转换) and the status view
// that judges each cell by its area's mode.
var migrations = []store.Migration{
	{Version: 1, Name: "indicator values", SQL: `CREATE TABLE IF NOT EXISTS indicator_values (
  name VARCHAR NOT NULL,
  level VARCHAR NOT NULL,
  area_code VARCHAR NOT NULL,
  period_start TIMESTAMPTZ NOT NULL,
  period_end TIMESTAMPTZ NOT NULL,
  numerator DOUBLE NOT NULL,
  denominator DOUBLE NOT NULL,
  value DOUBLE,
  suppressed BOOLEAN NOT NULL,
  run_id VARCHAR NOT NULL,
  computed_at TIMESTAMPTZ NOT NULL,
  inputs_fresh_at TIMESTAMPTZ,
  version INTEGER NOT NULL,
  PRIMARY KEY (name, level, area_code, period_start, version))`},
	// The latest version of every cell: what dashboards show.
	{Version: 2, Name: "latest values view", SQL: `CREATE OR REPLACE VIEW indicator_values_latest AS
  SELECT * FROM indicator_values
  QUALIFY row_number() OVER (PARTITION BY name, level, area_code, period_start ORDER BY version DESC) = 1`},
	// What may leave the server for any role: the latest version, with the
	// numerator and denominator of a suppressed cell withheld.
	{Version: 3, Name: "public values view", SQL: `CREATE OR REPLACE VIEW indicator_values_public AS
  SELECT name, level, area_code, period_start, period_end,
         CASE WHEN suppressed THEN NULL ELSE numerator END AS numerator,
         CASE WHEN suppressed THEN NULL ELSE denominator END AS denominator,
         value, suppressed, computed_at < period_end AS provisional,
         run_id, computed_at, inputs_fresh_at, version
  FROM indicator_values_latest`},
	{Version: 4, Name: "thresholds", SQL: thresholdsTable},
	{Version: 5, Name: "area modes", SQL: `CREATE TABLE IF NOT EXISTS area_modes (
  area_code VARCHAR PRIMARY KEY,
  mode VARCHAR NOT NULL,
  changed_at TIMESTAMPTZ NOT NULL,
  reason VARCHAR)`},
	{Version: 6, Name: "area mode changes", SQL: `CREATE TABLE IF NOT EXISTS area_mode_changes (
  area_code VARCHAR NOT NULL,
  mode VARCHAR NOT NULL,
  changed_at TIMESTAMPTZ NOT NULL,
  reason VARCHAR)`},
	{Version: 7, Name: "status view", SQL: StatusView},
	// Why a period's cells are empty when the data do not reach back as far
	// as the query compares (Query.LookbackMonths).
	{Version: 8, Name: "history notes", SQL: `CREATE TABLE IF NOT EXISTS indicator_notes (
  name VARCHAR NOT NULL,
  period_start TIMESTAMPTZ NOT NULL,
  needs_from TIMESTAMPTZ NOT NULL,
  data_from TIMESTAMPTZ,
  PRIMARY KEY (name, period_start))`},
	// The older periods the refresher owes a query (Refresher), kept so
	// that a restart does not forget them.
	{Version: 9, Name: "refresh backlog", SQL: `CREATE TABLE IF NOT EXISTS indicator_backlog (
  name VARCHAR PRIMARY KEY,
  from_start TIMESTAMPTZ NOT NULL,
  owed_since TIMESTAMPTZ NOT NULL)`},
}

// Migrate brings the tables this package owns up to date (store.Migrate,
// component "queries"); the reference tables (the store's own) must exist.
func Migrate(ctx context.Context, st *store.Store) error {
	if err := st.Migrate(ctx, "queries", migrations); err != nil {
		return err
	}
	return anomaly.Migrate(ctx, st) // where the rules' flags go
}

// Result counts what one Run did, in cells (one level, area and period
// each).
type Result struct {
	// Periods is the number of periods computed.
	Periods int
	// Inserted cells had no value before.
	Inserted int
	// Restated cells had a final value that this run changed: the old
	// version is kept and a new version written.
	Restated int
	// Updated cells were provisional (computed before their period ended)
	// and were replaced in place.
	Updated int
	// Unchanged cells had the same final value already.
	Unchanged int
	// UnknownAreas are area codes the query returned that are not in the
	// areas table. Their rows count in the district and in gov units naming
	// the code, nowhere else.
	UnknownAreas []string
	// InputsFreshAt is the freshness of the inputs (zero if unknown).
	InputsFreshAt time.Time
	// Anomalies counts what a rule's run changed (kind: rule; RunRule).
	Anomalies anomaly.Result
}

func (r *Result) add(o Result) {
	r.Periods += o.Periods
	r.Inserted += o.Inserted
	r.Restated += o.Restated
	r.Updated += o.Updated
	r.Unchanged += o.Unchanged
	r.Anomalies.Opened += o.Anomalies.Opened
	r.Anomalies.Updated += o.Anomalies.Updated
	r.Anomalies.Resolved += o.Anomalies.Resolved
	r.Anomalies.Unchanged += o.Anomalies.Unchanged
	for _, c := range o.UnknownAreas {
		if !slices.Contains(r.UnknownAreas, c) {
			r.UnknownAreas = append(r.UnknownAreas, c)
		}
	}
}

func bindings(start, end, asOf time.Time) []any {
	return []any{sql.Named("period_start", start), sql.Named("period_end", end), sql.Named("as_of", asOf)}
}

// Run computes q for every period that overlaps [from, to) and has begun
// by now — from is moved back to the start of its period — and stores the
// cells in indicator_values.
//
// For each period the query runs once with $period_start and $period_end
// bound to the period's bounds in Asia/Shanghai and $as_of to the earlier
// of period_end and now (a period still running is computed as of now and
// is provisional). Its rows are summed up the areas tree (grid → community
// → street → county, by parent_code) and the responsibility tree
// (gov_units: a unit sums the areas it or a unit below it names), and into
// the district; numerators and denominators are summed, rates are never
// averaged. Every cell of every level in the header's grain is written,
// zero where the query returned nothing, and a cell whose denominator is
// below min_denominator is suppressed: value NULL, suppressed true,
// numerator and denominator kept (indicator_values_public withholds them).
//
// A cell already stored is handled by its latest version: a provisional one
// (computed_at before period_end) is replaced in place; a final one with
// the same numerator, denominator, value and suppression is left alone; a
// final one that differs is restated: a new row with version+1, the old row
// kept. Each period is one transaction, so an interrupted run leaves whole
// periods, and running it again completes it.
//
// q comes from a Catalog, which resolved its inputs. runID and now are
// stored with each cell; inputs_fresh_at is the newest
// event time of the stalest record table among the header's inputs, read
// once at the start. Run must not run twice at once for the same query (the
// scheduler's job): the second would fail on the primary key.
//
// A rule (kind: rule) is run by RunRule instead, and its changes counted in
// Result.Anomalies.
func Run(ctx context.Context, db *sql.DB, q *Query, from, to time.Time, runID string, now time.Time) (Result, error) {
	var res Result
	if q.Kind == KindRule {
		rr, err := RunRule(ctx, db, q, from, to, runID, now)
		return Result{Periods: rr.Periods, Anomalies: rr.Result}, err
	}
	if runID == "" {
		return res, errors.New("run: empty run id")
	}
	if !from.Before(to) {
		return res, fmt.Errorf("run %s: from %s is not before to %s", q.Name, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	h, err := loadHierarchy(ctx, db)
	if err != nil {
		return res, fmt.Errorf("run %s: %w", q.Name, err)
	}
	fresh, err := inputsFreshAt(ctx, db, q)
	if err != nil {
		return res, fmt.Errorf("run %s: %w", q.Name, err)
	}
	res.InputsFreshAt = fresh
	loc := calendar.Zone
	first := q.Period.Start(from, loc)
	if err := noteHistory(ctx, db, q, first, to, now); err != nil {
		return res, fmt.Errorf("run %s: %w", q.Name, err)
	}
	stored, err := latestStored(ctx, db, q.Name, first, to)
	if err != nil {
		return res, fmt.Errorf("run %s: %w", q.Name, err)
	}
	for start := first; start.Before(to) && start.Before(now); start = q.Period.Next(start) {
		end := q.Period.Next(start)
		p := periodRun{q: q, h: h, start: start, end: end, asOf: minTime(end, now), runID: runID, now: now, fresh: fresh}
		r, err := p.run(ctx, db, stored[start.Unix()])
		if err != nil {
			return res, fmt.Errorf("run %s for the %s from %s: %w", q.Name, q.Period, start.Format(time.RFC3339), err)
		}
		res.add(r)
	}
	slices.Sort(res.UnknownAreas)
	if res.Anomalies, err = runDetectors(ctx, db, q, first, to, runID, now); err != nil {
		return res, fmt.Errorf("run %s: %w", q.Name, err)
	}
	return res, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// noteHistory writes, for each period from first to to whose data begin
// before the record tables hold data (its lookback, Query.LookbackMonths,
// included), why its cells are empty or low: the data it needs and the data
// there is (indicator_notes). A day's slack lets a history that starts on
// a period's first day cover it. Notes of the periods the data now cover
// are removed.
func noteHistory(ctx context.Context, db *sql.DB, q *Query, first, to, now time.Time) error {
	var since sql.NullTime // the latest first event time among the inputs
	read := false
	for _, in := range q.inputs {
		if in.eventTime == "" {
			continue
		}
		read = true
		var t sql.NullTime
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT min(%s) FROM %s", in.eventTime, in.table)).Scan(&t); err != nil {
			return fmt.Errorf("history of %s: %w", in.table, err)
		}
		if !since.Valid || !t.Valid || t.Time.After(since.Time) {
			since = t
			if !t.Valid {
				break
			}
		}
	}
	if !read {
		return nil // reference data only: no history to need
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM indicator_notes WHERE name = ? AND period_start >= ? AND period_start < ?`, q.Name, first, to); err != nil {
		return fmt.Errorf("note history: %w", err)
	}
	for start := first; start.Before(to) && start.Before(now); start = q.Period.Next(start) {
		needs := start.In(calendar.Zone).AddDate(0, -q.LookbackMonths, 0)
		if since.Valid && !since.Time.After(needs.AddDate(0, 0, 1)) {
			break // later periods need later data still
		}
		var from any
		if since.Valid {
			from = since.Time
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO indicator_notes (name, period_start, needs_from, data_from) VALUES (?, ?, ?, ?)`,
			q.Name, start, needs, from); err != nil {
			return fmt.Errorf("note history: %w", err)
		}
	}
	return nil
}

// inputsFreshAt returns the newest event time of the stalest record table
// the query reads: every record input is known up to that instant. It is
// zero when a record input is empty or none is read.
func inputsFreshAt(ctx context.Context, db *sql.DB, q *Query) (time.Time, error) {
	var fresh time.Time
	for i, in := range q.inputs {
		if in.eventTime == "" {
			continue
		}
		var t sql.NullTime
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT max(%s) FROM %s", in.eventTime, in.table)).Scan(&t); err != nil {
			return time.Time{}, fmt.Errorf("freshness of %s: %w", in.table, err)
		}
		if !t.Valid {
			return time.Time{}, nil
		}
		if i == 0 || fresh.IsZero() || t.Time.Before(fresh) {
			fresh = t.Time
		}
	}
	return fresh, nil
}

// storedCell is the latest stored version of a cell.
type storedCell struct {
	version                       int
	numerator, denominator, value sql.NullFloat64
	suppressed, provisional       bool
}

// latestStored reads the latest version of every stored cell of name in
// the periods starting in [from, to), by period start (Unix seconds).
func latestStored(ctx context.Context, db *sql.DB, name string, from, to time.Time) (map[int64]map[cell]storedCell, error) {
	rows, err := db.QueryContext(ctx, `SELECT period_start, level, area_code, version, numerator, denominator, value, suppressed, computed_at < period_end
FROM indicator_values_latest WHERE name = $name AND period_start >= $from AND period_start < $to`,
		sql.Named("name", name), sql.Named("from", from), sql.Named("to", to))
	if err != nil {
		return nil, fmt.Errorf("read stored values: %w", err)
	}
	out := map[int64]map[cell]storedCell{}
	for rows.Next() {
		var start time.Time
		var c cell
		var s storedCell
		if err := rows.Scan(&start, &c.level, &c.code, &s.version, &s.numerator, &s.denominator, &s.value, &s.suppressed, &s.provisional); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("read stored values: %w", err)
		}
		k := start.Unix()
		if out[k] == nil {
			out[k] = map[cell]storedCell{}
		}
		out[k][c] = s
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("read stored values: %w", err)
	}
	return out, nil
}

// periodRun computes and stores one period.
type periodRun struct {
	q                     *Query
	h                     *hierarchy
	start, end, asOf, now time.Time
	runID                 string
	fresh                 time.Time
}

// row is one row of an indicator query.
type row struct {
	code                   string
	numerator, denominator float64
}

func (p *periodRun) run(ctx context.Context, db *sql.DB, stored map[cell]storedCell) (res Result, err error) {
	res.Periods = 1
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	rows, err := p.query(ctx, tx)
	if err != nil {
		return res, err
	}
	sums := map[cell]*[2]float64{}
	for _, c := range p.h.cells(p.q.Grain) {
		sums[c] = &[2]float64{}
	}
	for _, r := range rows {
		if !p.h.known[r.code] && !slices.Contains(res.UnknownAreas, r.code) {
			res.UnknownAreas = append(res.UnknownAreas, r.code)
		}
		for _, c := range p.h.cellsOf(r.code) {
			if s := sums[c]; s != nil {
				s[0] += r.numerator
				s[1] += r.denominator
			}
		}
	}
	var inserts, updates cellBatch
	for _, c := range p.h.cells(p.q.Grain) {
		s := sums[c]
		v, suppressed := p.q.value(s[0], s[1])
		old, ok := stored[c]
		version := 1
		switch {
		case !ok:
			res.Inserted++
		case old.provisional:
			res.Updated++
			updates.add(c, s[0], s[1], v, suppressed, old.version)
			continue
		case same(old, s[0], s[1], v, suppressed):
			res.Unchanged++
			continue
		default:
			res.Restated++
			version = old.version + 1
		}
		inserts.add(c, s[0], s[1], v, suppressed, version)
	}
	if err := p.write(ctx, tx, insertSQL, inserts); err != nil {
		return res, fmt.Errorf("insert indicator values: %w", err)
	}
	if err := p.write(ctx, tx, updateSQL, updates); err != nil {
		return res, fmt.Errorf("update provisional values: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	return res, nil
}

// query runs the indicator query for the period and checks its rows,
// returning them ordered by area code so that sums do not depend on the
// order DuckDB returns them in.
func (p *periodRun) query(ctx context.Context, tx *sql.Tx) ([]row, error) {
	rs, err := tx.QueryContext(ctx, p.q.statement(), bindings(p.start, p.end, p.asOf)...)
	if err != nil {
		return nil, fmt.Errorf("query: %s", oneLine(err.Error()))
	}
	cols, err := rs.Columns()
	if err != nil {
		_ = rs.Close()
		return nil, fmt.Errorf("query: %w", err)
	}
	if len(cols) != len(resultColumns) {
		_ = rs.Close()
		return nil, fmt.Errorf("query returns columns %s; want area_code, period_start, numerator, denominator (run the catalog's Check)", strings.Join(cols, ", "))
	}
	var out []row
	var probs []string
	n := 0
	for rs.Next() {
		n++
		var code sql.NullString
		var start sql.NullTime
		var num, den sql.NullFloat64
		if err := rs.Scan(&code, &start, &num, &den); err != nil {
			_ = rs.Close()
			return nil, fmt.Errorf("query row %d: %w", n, err)
		}
		switch {
		case !code.Valid:
			probs = append(probs, fmt.Sprintf("row %d: area_code is NULL", n))
		case !start.Valid || !start.Time.Equal(p.start):
			probs = append(probs, fmt.Sprintf("row %d (%s): period_start is %v, not the period's start %s; return $period_start", n, code.String, nullString(start), p.start.Format(time.RFC3339)))
		case !num.Valid || !den.Valid:
			probs = append(probs, fmt.Sprintf("row %d (%s): numerator or denominator is NULL; use coalesce(..., 0)", n, code.String))
		case !finite(num.Float64) || !finite(den.Float64) || den.Float64 < 0:
			probs = append(probs, fmt.Sprintf("row %d (%s): numerator %g and denominator %g must be finite, the denominator 0 or more", n, code.String, num.Float64, den.Float64))
		default:
			out = append(out, row{code.String, num.Float64, den.Float64})
		}
		if len(probs) == 10 {
			break
		}
	}
	if err := closeRows(rs); err != nil {
		return nil, fmt.Errorf("query: %s", oneLine(err.Error()))
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("query returned bad rows: %s", strings.Join(probs, "; "))
	}
	slices.SortStableFunc(out, func(a, b row) int { return cmp.Compare(a.code, b.code) })
	return out, nil
}

func nullString(t sql.NullTime) string {
	if !t.Valid {
		return "NULL"
	}
	return t.Time.Format(time.RFC3339)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// value returns a cell's published value, nil when there is none, and
// whether the cell is suppressed.
func (q *Query) value(num, den float64) (any, bool) {
	if den < float64(q.MinDenominator) {
		return nil, true
	}
	switch q.Unit {
	case UnitCount:
		return num, false
	case UnitPercent, UnitHours, UnitPer10k:
		if den == 0 {
			return nil, false
		}
		switch q.Unit {
		case UnitPercent:
			return 100 * num / den, false
		case UnitPer10k:
			return 10000 * num / den, false
		}
		return num / den, false
	}
	return nil, false
}

// same reports whether a stored final cell equals a new computation. Sums
// of fractional values may differ in the last bits between runs; values
// within one part in 10⁹ are the same.
func same(old storedCell, num, den float64, v any, suppressed bool) bool {
	if old.suppressed != suppressed || !near(old.numerator, num) || !near(old.denominator, den) {
		return false
	}
	f, ok := v.(float64)
	if !ok {
		return !old.value.Valid
	}
	return near(old.value, f)
}

func near(a sql.NullFloat64, b float64) bool {
	if !a.Valid {
		return false
	}
	return math.Abs(a.Float64-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a.Float64), math.Abs(b)))
}

// cellBatch holds cells to write as one list per column, bound as DuckDB
// lists and unnested: one statement for a period's cells, with no
// per-value parameter to bind.
type cellBatch struct {
	levels, codes            []string
	numerators, denominators []float64
	values                   []float64
	hasValue, suppressed     []bool
	versions                 []int64
}

func (b *cellBatch) add(c cell, num, den float64, v any, suppressed bool, version int) {
	b.levels = append(b.levels, string(c.level))
	b.codes = append(b.codes, c.code)
	b.numerators = append(b.numerators, num)
	b.denominators = append(b.denominators, den)
	f, ok := v.(float64)
	b.values = append(b.values, f)
	b.hasValue = append(b.hasValue, ok)
	b.suppressed = append(b.suppressed, suppressed)
	b.versions = append(b.versions, int64(version))
}

// cellsSQL turns the bound lists into rows.
const cellsSQL = `SELECT unnest(CAST($levels AS VARCHAR[])) AS level, unnest(CAST($codes AS VARCHAR[])) AS area_code,
  unnest(CAST($numerators AS DOUBLE[])) AS numerator, unnest(CAST($denominators AS DOUBLE[])) AS denominator,
  unnest(CAST($values AS DOUBLE[])) AS v, unnest(CAST($has_value AS BOOLEAN[])) AS has_value,
  unnest(CAST($suppressed AS BOOLEAN[])) AS suppressed, CAST(unnest(CAST($versions AS BIGINT[])) AS INTEGER) AS version`

const insertSQL = `INSERT INTO indicator_values (name, level, area_code, period_start, period_end, numerator, denominator,
  value, suppressed, run_id, computed_at, inputs_fresh_at, version)
SELECT $name, level, area_code, $period_start, $period_end, numerator, denominator,
  CASE WHEN has_value THEN v END, suppressed, $run_id, $computed_at, $inputs_fresh_at, version
FROM (` + cellsSQL + `)`

const updateSQL = `UPDATE indicator_values AS iv SET numerator = c.numerator, denominator = c.denominator,
  value = CASE WHEN c.has_value THEN c.v END, suppressed = c.suppressed,
  run_id = $run_id, computed_at = $computed_at, inputs_fresh_at = $inputs_fresh_at
FROM (` + cellsSQL + `) AS c
WHERE iv.name = $name AND iv.level = c.level AND iv.area_code = c.area_code
  AND iv.period_start = $period_start AND iv.version = c.version`

// write runs an insert or update of the batch's cells.
func (p *periodRun) write(ctx context.Context, tx *sql.Tx, stmt string, b cellBatch) error {
	if len(b.codes) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, stmt,
		sql.Named("name", p.q.Name), sql.Named("period_start", p.start), sql.Named("period_end", p.end),
		sql.Named("run_id", p.runID), sql.Named("computed_at", p.now), sql.Named("inputs_fresh_at", nullTime(p.fresh)),
		sql.Named("levels", b.levels), sql.Named("codes", b.codes),
		sql.Named("numerators", b.numerators), sql.Named("denominators", b.denominators),
		sql.Named("values", b.values), sql.Named("has_value", b.hasValue),
		sql.Named("suppressed", b.suppressed), sql.Named("versions", b.versions))
	return err
}
