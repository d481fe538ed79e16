// Package audit keeps the audit log (访问审计): one row for every request
// that reads data about persons or households — the door-knocking lists,
// the emergency archive, the five forces' rosters, the drill-down to an
// anomaly's records, administrator's SQL — saying who asked, with which
// role and areas, what they asked for (personal values masked), how many
// rows came back and how it ended. Rows older than the retention are
// pruned.
package audit

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/internal/store"
)

// Entry is one audited request.
type Entry struct {
	At        time.Time
	RequestID string
	Who       string // the token's name
	Role      string
	Areas     []string // what the token grants
	Endpoint  string   // method and route, e.g. GET /api/v1/doorknock/missing
	Filters   string   // the query (or SQL), personal values masked
	Rows      int      // rows answered
	Outcome   int      // the HTTP status
}

var migrations = []store.Migration{
	{Version: 1, Name: "audit log", SQL: `CREATE TABLE IF NOT EXISTS audit_log (
  asked_at TIMESTAMPTZ NOT NULL,
  request_id VARCHAR NOT NULL,
  who VARCHAR NOT NULL,
  role VARCHAR NOT NULL,
  areas VARCHAR[] NOT NULL,
  endpoint VARCHAR NOT NULL,
  filters VARCHAR NOT NULL,
  row_count BIGINT NOT NULL,
  outcome INTEGER NOT NULL)`},
}

// Log writes and prunes the audit log.
type Log struct{ st *store.Store }

// Open migrates the audit log's table and returns the log.
func Open(ctx context.Context, st *store.Store) (*Log, error) {
	if err := st.Migrate(ctx, "audit", migrations); err != nil {
		return nil, err
	}
	return &Log{st: st}, nil
}

// Record appends e.
func (l *Log) Record(ctx context.Context, e Entry) error {
	areas := e.Areas
	if areas == nil {
		areas = []string{}
	}
	_, err := l.st.DB().ExecContext(ctx, `INSERT INTO audit_log VALUES (?, ?, ?, ?, ?::VARCHAR[], ?, ?, ?, ?)`,
		e.At.UTC(), e.RequestID, e.Who, e.Role, listLiteral(areas), e.Endpoint, e.Filters, e.Rows, e.Outcome)
	if err != nil {
		return fmt.Errorf("write the audit log: %w", err)
	}
	return nil
}

// listLiteral is areas as a DuckDB list literal's text: codes and unit ids
// hold no quotes or brackets (the pipeline file's check refuses them).
func listLiteral(areas []string) string {
	return "[" + strings.Join(areas, ", ") + "]"
}

// Prune deletes the rows written before before and returns how many.
func (l *Log) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := l.st.DB().ExecContext(ctx, "DELETE FROM audit_log WHERE asked_at < ?", before.UTC())
	if err != nil {
		return 0, fmt.Errorf("prune the audit log: %w", err)
	}
	return res.RowsAffected()
}

// ListQuery returns the query of the audit log, newest first, by who (""
// for everyone), after the key (at, request_id) of the page before.
func ListQuery(who string, after []any) (string, []any) {
	where, args := []string{"true"}, []any{}
	if who != "" {
		where, args = append(where, "who = ?"), append(args, who)
	}
	if after != nil {
		where, args = append(where, "(asked_at, request_id) < (CAST(? AS TIMESTAMPTZ), ?)"), append(args, after...)
	}
	return `SELECT asked_at, request_id, who, role, areas, endpoint, filters, row_count, outcome FROM audit_log WHERE ` +
		strings.Join(where, " AND ") + ` ORDER BY asked_at DESC, request_id DESC`, args
}

// ListKey is the cursor key of a ListQuery row.
func ListKey(row []any) []any { return []any{row[0], row[1]} }

// Filters is the text of a request's query parameters for the log, in
// name order, with ID-card and mobile numbers masked.
func Filters(q url.Values) string {
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(k + "=" + v)
		}
	}
	return Mask(b.String())
}

// Mask masks the ID-card and mobile numbers in s.
func Mask(s string) string {
	out, _ := pii.ScrubText(s)
	return out
}
