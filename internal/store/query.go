package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode"

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

// Limits bound one query: the rows and bytes it delivers and the time it
// runs. A zero field takes its value from DefaultLimits.
type Limits struct {
	// Rows is the most rows delivered.
	Rows int
	// Bytes bounds the delivered values' size as JSON, roughly: a row that
	// would pass it is not delivered.
	Bytes int64
	// Timeout bounds the whole call, from the parse to the last row.
	Timeout time.Duration
	// Memory bounds how much an admin query may grow the process (see
	// watchMemory); AdminQuery stops it past that with ErrQueryMemory.
	Memory int64
}

// DefaultLimits fill the zero fields of a Limits.
var DefaultLimits = Limits{Rows: 10000, Bytes: 64 << 20, Timeout: 30 * time.Second, Memory: 1 << 30}

func (l Limits) orDefault() Limits {
	if l.Rows <= 0 {
		l.Rows = DefaultLimits.Rows
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultLimits.Bytes
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultLimits.Timeout
	}
	if l.Memory <= 0 {
		l.Memory = DefaultLimits.Memory
	}
	return l
}

// Why a result stopped early: AdminQuery and StreamArgs return one of these,
// or "" for a complete result.
const (
	TruncatedRows    = "rows"    // Limits.Rows rows were delivered and there were more
	TruncatedBytes   = "bytes"   // the next row would have passed Limits.Bytes
	TruncatedTimeout = "timeout" // Limits.Timeout passed after the columns were delivered
)

// Result is a query's columns and rows, values converted for JSON.
type Result struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	Truncated bool     `json:"truncated"`
	// TruncatedBy says which limit cut the rows short (TruncatedRows ...).
	TruncatedBy string `json:"truncated_by,omitempty"`
}

// AdminQuery checks q with the admin SQL gate (see ErrNotReadOnly) and then
// streams its result: cols once, then row for each row, until the end or a
// limit. It returns which limit cut the result short, or "". A refused
// statement is an error matching ErrNotReadOnly. A timeout before cols is an
// error wrapping context.DeadlineExceeded; after cols it is
// TruncatedTimeout. An error from cols or row stops the query and is
// returned as is; so is the context's error when the caller goes away.
//
// Admin queries run one at a time on a connection of their own, inside a
// transaction that is always rolled back. DuckDB runs the statement under a
// LIMIT of lim.Rows+1, so it stops producing rows once the cap is passed;
// what it computes until then (a sort, a join) is bounded by the process's
// memory_limit and temp-directory cap (Options), past which the query fails
// with an out-of-memory error and the process lives on. What DuckDB does
// not count (the strings and lists a query builds) is watched from outside:
// past lim.Memory of growth the query stops with an error matching
// ErrQueryMemory. Cancelling ctx (the client leaving) interrupts DuckDB and
// frees the query's memory. Values are
// converted as for Result. cols and row must not keep the slices they get.
func (s *Store) AdminQuery(ctx context.Context, q string, lim Limits, cols func([]string) error, row func([]any) error) (truncated string, err error) {
	lim = lim.orDefault()
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	select {
	case s.adminSem <- struct{}{}:
		defer func() { <-s.adminSem }()
	case <-ctx.Done():
		return "", fmt.Errorf("wait for the admin connection: %w", ctx.Err())
	}
	wrapped, err := gate(ctx, s.admin, q, lim.Rows+1)
	if err != nil {
		return "", err
	}
	ctx, stop := watchMemory(ctx, lim.Memory)
	defer stop()
	truncated, err = stream(ctx, s.admin, wrapped, lim, cols, row)
	return truncated, memoryStopped(ctx, err)
}

// StreamArgs runs a query yiwang itself wrote, with arguments, on a pooled
// connection in a transaction that is always rolled back, and streams its
// result as AdminQuery does, with the same limits. q must be one SELECT
// (it runs as a subquery under a LIMIT); it is not checked by the gate.
func (s *Store) StreamArgs(ctx context.Context, q string, lim Limits, cols func([]string) error, row func([]any) error, args ...any) (truncated string, err error) {
	lim = lim.orDefault()
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	c, err := s.db.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("connection: %w", err)
	}
	defer func() { _ = c.Close() }()
	body := strings.TrimRightFunc(q, unicode.IsSpace)
	body = strings.TrimSuffix(body, ";")
	return stream(ctx, c, wrapLimit(body, lim.Rows+1), lim, cols, row, args...)
}

// Query runs one statement that the admin SQL gate accepts (see
// ErrNotReadOnly) and returns at most limit rows, within DefaultLimits'
// bytes and time; see AdminQuery.
func (s *Store) Query(ctx context.Context, q string, limit int) (*Result, error) {
	res := &Result{Rows: [][]any{}}
	why, err := s.AdminQuery(ctx, q, Limits{Rows: limit}, res.setColumns, res.add)
	res.Truncated, res.TruncatedBy = why != "", why
	if err != nil {
		return nil, err
	}
	return res, nil
}

// QueryArgs runs a query yiwang itself wrote, with arguments, and returns at
// most limit rows, within DefaultLimits' bytes and time; see StreamArgs.
func (s *Store) QueryArgs(ctx context.Context, q string, limit int, args ...any) (*Result, error) {
	res := &Result{Rows: [][]any{}}
	why, err := s.StreamArgs(ctx, q, Limits{Rows: limit}, res.setColumns, res.add, args...)
	res.Truncated, res.TruncatedBy = why != "", why
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (r *Result) setColumns(c []string) error { r.Columns = c; return nil }

func (r *Result) add(v []any) error { r.Rows = append(r.Rows, v); return nil }

// stream runs q on c in a transaction it rolls back, delivering the rows
// within lim.
func stream(ctx context.Context, c *sql.Conn, q string, lim Limits, cols func([]string) error, row func([]any) error, args ...any) (string, error) {
	// Not database/sql's Tx: when the context ends mid-query it gives up
	// the transaction without a rollback that DuckDB takes, and the next
	// statement on the connection fails with "transaction is aborted".
	if _, err := c.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return "", stopped(ctx, lim, fmt.Errorf("begin: %w", err))
	}
	defer func() { _, _ = c.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") }()
	rows, err := c.QueryContext(ctx, q, args...)
	if err != nil {
		return "", stopped(ctx, lim, err)
	}
	defer func() { _ = rows.Close() }()
	names, err := rows.Columns()
	if err != nil {
		return "", err
	}
	if err := cols(names); err != nil {
		return "", err
	}
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int
	var size int64
	for rows.Next() {
		if n >= lim.Rows {
			return TruncatedRows, nil
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		out := make([]any, len(vals))
		for i, v := range vals {
			out[i] = jsonValue(v)
			size += jsonSize(out[i]) + 1
		}
		if size > lim.Bytes {
			return TruncatedBytes, nil
		}
		if err := row(out); err != nil {
			return "", err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return TruncatedTimeout, nil
		}
		return "", err
	}
	return "", nil
}

// stopped names the time limit in an error that it caused.
func stopped(ctx context.Context, lim Limits, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		err = errors.Join(context.DeadlineExceeded, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("query stopped at its %s time limit: %w", lim.Timeout, err)
	}
	return err
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

// jsonSize is about the size of v in JSON, without escapes.
func jsonSize(v any) int64 {
	switch x := v.(type) {
	case nil:
		return 4
	case string:
		return int64(len(x)) + 2
	case []any:
		n := int64(2)
		for _, e := range x {
			n += jsonSize(e) + 1
		}
		return n
	case map[string]any:
		n := int64(2)
		for k, e := range x {
			n += int64(len(k)) + 4 + jsonSize(e)
		}
		return n
	case bool:
		return 5
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint, float32, float64:
		return 20
	}
	return int64(len(fmt.Sprint(v)))
}
