package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/yiwang-gov/yiwang/schemas"
)

// TableInfo is what GET /api/v1/tables shows of one table.
type TableInfo struct {
	Table       string     `json:"table"`
	Schema      string     `json:"schema,omitempty"`
	Rows        int64      `json:"rows"`
	NewestEvent *time.Time `json:"newest_event_time,omitempty"`
}

// Tables returns the row count and the newest event time of every record
// table, then the reference tables' row counts.
func (s *Store) Tables(ctx context.Context, reg *schemas.Registry) ([]TableInfo, error) {
	var out []TableInfo
	for _, sc := range reg.All() {
		ti := TableInfo{Table: sc.Table, Schema: sc.Name}
		var newest sql.NullTime
		q := fmt.Sprintf("SELECT count(*), max(%s) FROM %s", sc.EventTime, sc.Table)
		if err := s.db.QueryRowContext(ctx, q).Scan(&ti.Rows, &newest); err != nil {
			return nil, fmt.Errorf("count %s: %w", sc.Table, err)
		}
		if newest.Valid {
			t := newest.Time.UTC()
			ti.NewestEvent = &t
		}
		out = append(out, ti)
	}
	for _, t := range []string{"areas", "gov_units", "load_offsets"} {
		ti := TableInfo{Table: t}
		if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&ti.Rows); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		out = append(out, ti)
	}
	return out, nil
}

// ErrNotReadOnly refuses a statement that is not a query.
var ErrNotReadOnly = errors.New("only one read-only statement (SELECT, WITH, FROM, VALUES, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN) is allowed")

// Result is a query's columns and rows, values converted for JSON.
type Result struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	Truncated bool     `json:"truncated"`
}

// Query runs one read-only statement and returns at most limit rows. The
// statement runs in a transaction that is always rolled back, and the
// database refuses file and network access, so a query can neither change
// the tables nor reach outside.
func (s *Store) Query(ctx context.Context, q string, limit int) (*Result, error) {
	if err := readOnly(q); err != nil {
		return nil, err
	}
	return s.QueryArgs(ctx, q, limit)
}

// QueryArgs runs a query yiwang itself wrote, with arguments, in a
// transaction that is always rolled back.
func (s *Store) QueryArgs(ctx context.Context, q string, limit int, args ...any) (*Result, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: cols, Rows: [][]any{}}
	for rows.Next() {
		if len(res.Rows) >= limit {
			res.Truncated = true
			break
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = jsonValue(v)
		}
		res.Rows = append(res.Rows, vals)
	}
	return res, rows.Err()
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case *big.Int:
		return x.String()
	case []byte:
		return string(x)
	case []any:
		for i := range x {
			x[i] = jsonValue(x[i])
		}
		return x
	}
	return v
}

// readOnly accepts a single statement starting with a query keyword. A
// semicolon outside quotes and comments may only end the text.
func readOnly(q string) error {
	body := strings.TrimSpace(stripComments(q))
	body = strings.TrimSpace(strings.TrimSuffix(body, ";"))
	if body == "" {
		return ErrNotReadOnly
	}
	first := strings.ToUpper(strings.FieldsFunc(body, func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '(' || r == '\r' })[0])
	switch first {
	case "SELECT", "WITH", "FROM", "VALUES", "SHOW", "DESCRIBE", "SUMMARIZE", "EXPLAIN", "TABLE":
	default:
		return ErrNotReadOnly
	}
	if strings.Contains(body, ";") {
		return ErrNotReadOnly
	}
	return nil
}

// stripComments removes -- and /* */ comments and blanks the contents of
// quoted strings and identifiers, so that what remains can be scanned for
// statement separators.
func stripComments(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return b.String()
			}
			i += j + 3
			b.WriteByte(' ')
		case c == '\'' || c == '"':
			b.WriteByte(c)
			i++
			for i < len(q) && q[i] != c {
				i++
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
