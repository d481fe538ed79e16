// Package anomaly keeps the anomalies the detectors and rule queries flag:
// one row per anomaly with a stable id (its rule, subject and period), the
// records behind it, and the log of its changes.
//
// An anomaly opens once, the first time a run of its rule flags its subject
// in its period; it is updated while later runs still flag it with other
// figures, resolves when a run no longer flags it, and opens again if a
// later run flags it anew. Each change is a row of anomaly_changes with a
// sequence number that rises across all anomalies: what a delivery reads
// to tell the smart-community platform (opened, updated, resolved), in
// order, from where it stopped.
//
// The tables are this package's (Migrate). Payloads and rows hold codes,
// staff numbers, record ids and figures, never a person's name, ID or
// phone number: a rule returns what its detector found, and the records'
// personal fields are pseudonyms already.
package anomaly

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/yiwang-gov/yiwang/internal/store"
)

// The statuses of an anomaly.
const (
	StatusOpen     = "open"
	StatusResolved = "resolved"
)

// The kinds of change in anomaly_changes.
const (
	ChangeOpened   = "opened"
	ChangeUpdated  = "updated"
	ChangeResolved = "resolved"
)

// The severities.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

var migrations = []store.Migration{
	{Version: 1, Name: "anomalies", SQL: `CREATE TABLE IF NOT EXISTS anomalies (
  id VARCHAR PRIMARY KEY,
  rule VARCHAR NOT NULL,
  subject VARCHAR NOT NULL,
  area_code VARCHAR NOT NULL,
  period_start TIMESTAMPTZ NOT NULL,
  period_end TIMESTAMPTZ NOT NULL,
  mode VARCHAR NOT NULL,
  severity VARCHAR NOT NULL,
  status VARCHAR NOT NULL,
  observed DOUBLE,
  expected DOUBLE,
  detail VARCHAR NOT NULL,
  opened_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  resolved_at TIMESTAMPTZ,
  version INTEGER NOT NULL,
  run_id VARCHAR NOT NULL,
  feedback VARCHAR,
  feedback_by VARCHAR,
  feedback_why VARCHAR,
  feedback_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS anomaly_feedback (
  anomaly_id VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  who VARCHAR NOT NULL,
  why VARCHAR,
  given_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (anomaly_id, kind, who, given_at));
CREATE TABLE IF NOT EXISTS anomaly_records (
  anomaly_id VARCHAR NOT NULL,
  record_table VARCHAR NOT NULL,
  record_id VARCHAR NOT NULL,
  PRIMARY KEY (anomaly_id, record_table, record_id));
CREATE SEQUENCE IF NOT EXISTS anomaly_change_seq;
CREATE TABLE IF NOT EXISTS anomaly_changes (
  seq BIGINT PRIMARY KEY DEFAULT nextval('anomaly_change_seq'),
  anomaly_id VARCHAR NOT NULL,
  version INTEGER NOT NULL,
  change VARCHAR NOT NULL,
  status VARCHAR NOT NULL,
  observed DOUBLE,
  expected DOUBLE,
  changed_at TIMESTAMPTZ NOT NULL,
  run_id VARCHAR NOT NULL)`},
}

// Migrate brings the anomaly tables up to date (store.Migrate, component
// "anomaly").
func Migrate(ctx context.Context, st *store.Store) error {
	return st.Migrate(ctx, "anomaly", migrations)
}

// Flag is one subject a run found anomalous in a period.
type Flag struct {
	// Subject is what the anomaly concerns: a handler's or visitor's staff
	// number, a building code, a store id, an address, an area code.
	Subject string
	// Area is the code of the area it is in (a grid or a community), by
	// which access to it is scoped.
	Area string
	// Observed and Expected are the figure found and the one the rule
	// expected (its limit or baseline); NaN when the rule has none.
	Observed, Expected float64
	// Detail says in words what was observed against what was expected.
	Detail string
	// Records are the ids of the records behind it, in Run.RecordTable.
	Records []string
}

// Run is one run of a rule over one period: what it flagged, and what it
// covered, so that anomalies it no longer flags resolve.
type Run struct {
	Rule        string
	RecordTable string // the table Flag.Records name rows of
	Severity    string
	Mode        string // the mode whose parameters judged the flags
	PeriodStart time.Time
	PeriodEnd   time.Time
	RunID       string
	Now         time.Time
	// Covers reports whether an area's anomalies are this run's to open
	// and resolve (the areas of its mode); nil covers every area.
	Covers func(area string) bool
	Flags  []Flag
}

// Result counts what Apply changed.
type Result struct {
	Opened, Updated, Resolved, Unchanged int
}

// ID is the stable id of the anomaly of rule about subject in the period
// starting at periodStart: the same in every run and on every replica.
func ID(rule, subject string, periodStart time.Time) string {
	h := sha256.Sum256([]byte(rule + "\x00" + subject + "\x00" + periodStart.UTC().Format(time.RFC3339)))
	return hex.EncodeToString(h[:10])
}

type stored struct {
	status             string
	observed, expected sql.NullFloat64
	detail, severity   string
	area               string
	version            int
	feedback           string
}

// Apply records r in tx: opens the anomalies it flags for the first time
// (or again, after they resolved), updates those whose figures changed,
// and resolves the open ones of its rule and period, in the areas it
// covers, that it no longer flags. An anomaly people marked a false
// positive stays as it is. Each change is logged in anomaly_changes. Flags
// naming one subject twice are an error.
func Apply(ctx context.Context, tx *sql.Tx, r Run) (Result, error) {
	var res Result
	rows, err := tx.QueryContext(ctx, `SELECT id, status, observed, expected, detail, severity, area_code, version, coalesce(feedback, '')
FROM anomalies WHERE rule = ? AND period_start = ?`, r.Rule, r.PeriodStart)
	if err != nil {
		return res, fmt.Errorf("read anomalies of %s: %w", r.Rule, err)
	}
	have := map[string]stored{}
	for rows.Next() {
		var id string
		var s stored
		if err := rows.Scan(&id, &s.status, &s.observed, &s.expected, &s.detail, &s.severity, &s.area, &s.version, &s.feedback); err != nil {
			_ = rows.Close()
			return res, fmt.Errorf("read anomalies of %s: %w", r.Rule, err)
		}
		have[id] = s
	}
	if err := rows.Close(); err != nil {
		return res, fmt.Errorf("read anomalies of %s: %w", r.Rule, err)
	}
	seen := map[string]bool{}
	for _, f := range r.Flags {
		if f.Subject == "" {
			return res, fmt.Errorf("%s: a flag without a subject", r.Rule)
		}
		id := ID(r.Rule, f.Subject, r.PeriodStart)
		if seen[id] {
			return res, fmt.Errorf("%s: subject %s flagged twice in the period from %s", r.Rule, f.Subject, r.PeriodStart.Format(time.RFC3339))
		}
		seen[id] = true
		s, ok := have[id]
		switch {
		case ok && s.feedback == FeedbackFalsePositive:
			res.Unchanged++ // people said it is none: not again for this period
			continue
		case !ok:
			if _, err := tx.ExecContext(ctx, `INSERT INTO anomalies (id, rule, subject, area_code, period_start, period_end, mode, severity, status,
  observed, expected, detail, opened_at, updated_at, resolved_at, version, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 1, ?)`,
				id, r.Rule, f.Subject, f.Area, r.PeriodStart, r.PeriodEnd, r.Mode, r.Severity, StatusOpen,
				number(f.Observed), number(f.Expected), f.Detail, r.Now, r.Now, r.RunID); err != nil {
				return res, fmt.Errorf("open anomaly %s: %w", id, err)
			}
			if err := logChange(ctx, tx, id, 1, ChangeOpened, StatusOpen, f, r); err != nil {
				return res, err
			}
			res.Opened++
			if err := pendingFeedback(ctx, tx, id); err != nil {
				return res, err
			}
		case s.status == StatusResolved || !same(s, f, r):
			change := ChangeUpdated
			if s.status == StatusResolved {
				change = ChangeOpened
			}
			if _, err := tx.ExecContext(ctx, `UPDATE anomalies SET status = ?, area_code = ?, mode = ?, severity = ?, observed = ?, expected = ?, detail = ?,
  updated_at = ?, resolved_at = NULL, version = version + 1, run_id = ? WHERE id = ?`,
				StatusOpen, f.Area, r.Mode, r.Severity, number(f.Observed), number(f.Expected), f.Detail, r.Now, r.RunID, id); err != nil {
				return res, fmt.Errorf("update anomaly %s: %w", id, err)
			}
			if err := logChange(ctx, tx, id, s.version+1, change, StatusOpen, f, r); err != nil {
				return res, err
			}
			if change == ChangeOpened {
				res.Opened++
			} else {
				res.Updated++
			}
		default:
			res.Unchanged++
			continue
		}
		if err := writeRecords(ctx, tx, id, r.RecordTable, f.Records); err != nil {
			return res, err
		}
	}
	for id, s := range have {
		if seen[id] || s.status != StatusOpen || (r.Covers != nil && !r.Covers(s.area)) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE anomalies SET status = ?, updated_at = ?, resolved_at = ?, version = version + 1, run_id = ? WHERE id = ?`,
			StatusResolved, r.Now, r.Now, r.RunID, id); err != nil {
			return res, fmt.Errorf("resolve anomaly %s: %w", id, err)
		}
		f := Flag{Observed: nullable(s.observed), Expected: nullable(s.expected)}
		if err := logChange(ctx, tx, id, s.version+1, ChangeResolved, StatusResolved, f, r); err != nil {
			return res, err
		}
		res.Resolved++
	}
	return res, nil
}

// same reports whether a stored open anomaly already says what f says.
func same(s stored, f Flag, r Run) bool {
	return s.detail == f.Detail && s.severity == r.Severity && s.area == f.Area &&
		sameNumber(s.observed, f.Observed) && sameNumber(s.expected, f.Expected)
}

func sameNumber(a sql.NullFloat64, b float64) bool {
	if !a.Valid || math.IsNaN(b) {
		return !a.Valid && math.IsNaN(b)
	}
	return math.Abs(a.Float64-b) <= 1e-9*math.Max(1, math.Abs(b))
}

func number(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

func nullable(f sql.NullFloat64) float64 {
	if !f.Valid {
		return math.NaN()
	}
	return f.Float64
}

func logChange(ctx context.Context, tx *sql.Tx, id string, version int, change, status string, f Flag, r Run) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO anomaly_changes (anomaly_id, version, change, status, observed, expected, changed_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		id, version, change, status, number(f.Observed), number(f.Expected), r.Now, r.RunID); err != nil {
		return fmt.Errorf("log the change of anomaly %s: %w", id, err)
	}
	return nil
}

// writeRecords makes ids the records behind anomaly id.
func writeRecords(ctx context.Context, tx *sql.Tx, id, table string, ids []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM anomaly_records WHERE anomaly_id = ?`, id); err != nil {
		return fmt.Errorf("records of anomaly %s: %w", id, err)
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, 0, 3*n)
		for _, rid := range ids[:n] {
			args = append(args, id, table, rid)
		}
		stmt := "INSERT INTO anomaly_records VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", n), ", ")
		if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("records of anomaly %s: %w", id, err)
		}
		ids = ids[n:]
	}
	return nil
}

// Filter selects anomalies for a list; zero fields select everything.
type Filter struct {
	Status   string // open or resolved
	Rule     string
	Severity string // warning or critical
	// Area selects the anomalies in an area and every area under it (by
	// code prefix: a street's code starts its communities' and grids').
	Area string
	// Within bounds the list to what a reader may see (queries.Scope);
	// nil bounds nothing, for yiwang's own readers.
	Within interface {
		Cond(col string) (string, []any)
	}
}

// Columns are the columns of a ListQuery row, in order.
var Columns = []string{"id", "rule", "subject", "area_code", "period_start", "period_end", "mode", "severity", "status",
	"observed", "expected", "detail", "opened_at", "updated_at", "resolved_at", "version", "records", "feedback", "feedback_by", "feedback_why", "feedback_at"}

// ListQuery returns the SQL and arguments of a page of anomalies, the most
// recently changed first: those after the row whose (updated_at, id) is
// after, when given. Each row carries its records as "table:id" texts.
func ListQuery(f Filter, after []any) (string, []any) {
	where := []string{"true"}
	var args []any
	if f.Status != "" {
		where = append(where, "a.status = ?")
		args = append(args, f.Status)
	}
	if f.Rule != "" {
		where = append(where, "a.rule = ?")
		args = append(args, f.Rule)
	}
	if f.Severity != "" {
		where = append(where, "a.severity = ?")
		args = append(args, f.Severity)
	}
	if f.Area != "" {
		where = append(where, "starts_with(a.area_code, ?)")
		args = append(args, f.Area)
	}
	if f.Within != nil {
		cond, cargs := f.Within.Cond("a.area_code")
		where = append(where, cond)
		args = append(args, cargs...)
	}
	if after != nil {
		where = append(where, "(a.updated_at, a.id) < (CAST(? AS TIMESTAMPTZ), ?)")
		args = append(args, after...)
	}
	return `SELECT a.id, a.rule, a.subject, a.area_code, a.period_start, a.period_end, a.mode, a.severity, a.status,
  a.observed, a.expected, a.detail, a.opened_at, a.updated_at, a.resolved_at, a.version,
  coalesce((SELECT list(r.record_table || ':' || r.record_id ORDER BY r.record_id) FROM anomaly_records r WHERE r.anomaly_id = a.id), []) AS records,
  a.feedback, a.feedback_by, a.feedback_why, a.feedback_at
FROM anomalies a WHERE ` + strings.Join(where, " AND ") + ` ORDER BY a.updated_at DESC, a.id DESC`, args
}

// ListKey is the cursor key of a ListQuery row.
func ListKey(row []any) []any { return []any{row[13], row[0]} }

// OneQuery returns the SQL and arguments of the anomaly with that id, as a
// ListQuery row, if within (nil: anywhere) holds it.
func OneQuery(id string, within interface {
	Cond(col string) (string, []any)
}) (string, []any) {
	q, args := ListQuery(Filter{Within: within}, nil)
	return strings.Replace(q, "WHERE true", "WHERE a.id = ?", 1), append([]any{id}, args...)
}
