// Package sqldb reads rows incrementally from a SQL database, PostgreSQL
// for now, in the mode timestamp+id: each poll reads, in one
// REPEATABLE READ READ ONLY transaction, the rows whose (timestamp, id) is
// strictly after the cursor and whose timestamp is older than the
// database's now() minus a delay, in (timestamp, id) order. Rows updated in
// place come back with their new timestamp.
//
// The delay is what keeps a long write transaction from losing rows. A row
// stamped now() at the start of a transaction becomes visible only at its
// commit; had the cursor already passed that timestamp, the row would never
// be read (the known failure of query-based sources such as the JDBC
// connector). Reading only up to now() - delay, by the database's clock,
// is safe for every transaction shorter than the delay.
//
// A lost connection (a terminated backend, a restarting server) is made
// again and the read repeated within the poll; any other error fails the
// poll and the runner tries again later from the same cursor.
//
// The package exports no metrics of its own; the runner counts polls.
package sqldb

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/internal/diag"
)

// SampleConfig is sample.yaml, the documented configuration.
//
//go:embed sample.yaml
var SampleConfig string

// Config configures one table or query. The zero value of every optional
// field means its default.
type Config struct {
	// Driver is the kind of database: postgres (the default and, so far,
	// the only one).
	Driver string `yaml:"driver"`
	// DSNEnv names the environment variable holding the connection string
	// (keyword=value or a postgres:// URL). Secrets never live in files.
	DSNEnv string `yaml:"dsn_env"`
	// Table (optionally schema-qualified) and Columns say what to read:
	// SELECT <columns> FROM <table>. Give either them or Query.
	Table   string   `yaml:"table"`
	Columns []string `yaml:"columns"`
	// Query is a SELECT whose result columns are the record's fields; the
	// connector adds the cursor's condition, order and limit around it.
	Query string `yaml:"query"`
	// QueryName names a query in record positions (default "query").
	QueryName string `yaml:"query_name"`
	// Mode is timestamp+id (the default and only mode).
	Mode string `yaml:"mode"`
	// TimestampColumn and IDColumn are the cursor's columns (defaults
	// updated_at and the schema's key). Together they must be unique.
	TimestampColumn string `yaml:"timestamp_column"`
	IDColumn        string `yaml:"id_column"`
	// Delay holds rows back until the database's now() is this much past
	// their timestamp: it must exceed the longest write transaction
	// (default 30s; 0 turns it off).
	Delay *time.Duration `yaml:"delay"`
	// BatchSize is the most rows one poll reads (default 1000).
	BatchSize int `yaml:"batch_size"`
	// Timeout bounds one attempt of a poll: connecting and the query, on
	// the server too as statement_timeout (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxRetries is how often a poll repeats a read whose connection was
	// lost before it fails (default 3).
	MaxRetries *int `yaml:"max_retries"`
	// Timezone is the zone in which timestamp-without-time-zone values were
	// written, e.g. Asia/Shanghai. Required when the result has such
	// columns; a poll refuses them without it.
	Timezone string `yaml:"timezone"`
	// TLS secures the connection.
	TLS TLSConfig `yaml:"tls"`
}

// TLSConfig secures the connection to the database.
type TLSConfig struct {
	// Mode is verify-full (the default: encrypted, server certificate and
	// host name checked), verify-ca (certificate checked, not the name),
	// require (encrypted, nothing checked) or disable (plaintext, only to
	// a server on loopback or a unix socket). libpq's prefer and allow,
	// which fall back to plaintext silently, are refused. The connection
	// string may repeat the mode but not contradict it.
	Mode string `yaml:"mode"`
	// CAFile is the PEM file of the CA that signed the server's
	// certificate (default: the system's roots).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate and its key, for
	// servers that ask for one.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// FieldError is one problem with a Config field.
type FieldError = diag.FieldError

// Defaults, in one place.
const (
	DefaultDelay      = 30 * time.Second
	DefaultBatchSize  = 1000
	DefaultTimeout    = 30 * time.Second
	DefaultMaxRetries = 3
	DefaultTimestamp  = "updated_at"
	DefaultQueryName  = "query"
	ModeTimestampID   = "timestamp+id"
)

var (
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	selectWord = regexp.MustCompile(`(?i)^(select|with)\b`)
)

// Validate reports every problem, naming the field and what to change.
func (c *Config) Validate() []FieldError {
	var out []FieldError
	add := func(field, format string, args ...any) {
		out = append(out, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	switch c.Driver {
	case "", "postgres":
	case "mysql":
		add("driver", "mysql is not supported yet; only postgres")
	default:
		add("driver", "must be postgres, got %q", c.Driver)
	}
	switch {
	case c.DSNEnv == "":
		add("dsn_env", "is required: the environment variable holding the connection string")
	case strings.ContainsAny(c.DSNEnv, "=:/@ "):
		// Never echo it: it looks like the connection string itself.
		add("dsn_env", "looks like a connection string: put it in an environment variable and name the variable here")
	case !envName.MatchString(c.DSNEnv):
		add("dsn_env", "must be an environment variable name such as YIWANG_PROPERTY_DSN, got %q", c.DSNEnv)
	}
	query := strings.TrimSpace(c.Query)
	switch {
	case query != "" && (c.Table != "" || len(c.Columns) > 0):
		add("query", "give either query or table with columns, not both")
	case query != "":
		if !selectWord.MatchString(query) {
			add("query", "must be one SELECT (or WITH ... SELECT)")
		}
	case c.Table == "":
		add("table", "is required (or query): the table to read")
	default:
		if slices.Contains(strings.Split(c.Table, "."), "") {
			add("table", "must be a table name, optionally schema-qualified (public.work_order), got %q", c.Table)
		}
		if len(c.Columns) == 0 {
			add("columns", "is required with table: list the columns to read, and only those")
		}
		seen := map[string]bool{}
		for i, col := range c.Columns {
			if col == "" {
				add(fmt.Sprintf("columns[%d]", i), "is empty")
			} else if seen[col] {
				add(fmt.Sprintf("columns[%d]", i), "%q is listed twice", col)
			}
			seen[col] = true
		}
		ts := or(c.TimestampColumn, DefaultTimestamp)
		if len(c.Columns) > 0 && !seen[ts] {
			add("columns", "must include the timestamp_column %s", ts)
		}
		if c.IDColumn != "" && len(c.Columns) > 0 && !seen[c.IDColumn] {
			add("columns", "must include the id_column %s", c.IDColumn)
		}
	}
	if c.IDColumn != "" && c.IDColumn == or(c.TimestampColumn, DefaultTimestamp) {
		add("id_column", "must differ from timestamp_column")
	}
	if c.Mode != "" && c.Mode != ModeTimestampID {
		add("mode", "must be %s, got %q", ModeTimestampID, c.Mode)
	}
	if c.Delay != nil && *c.Delay < 0 {
		add("delay", "must be >= 0, got %q", *c.Delay)
	}
	if c.BatchSize < 0 || c.BatchSize > 100000 {
		add("batch_size", "must be 1-100000, got %d", c.BatchSize)
	}
	if c.Timeout < 0 {
		add("timeout", "must be > 0, got %q", c.Timeout)
	}
	if c.MaxRetries != nil && (*c.MaxRetries < 0 || *c.MaxRetries > 10) {
		add("max_retries", "must be 0-10, got %d", *c.MaxRetries)
	}
	if c.Timezone != "" {
		if _, err := time.LoadLocation(c.Timezone); err != nil {
			add("timezone", "unknown time zone %q: use an IANA name such as Asia/Shanghai", c.Timezone)
		}
	}
	switch c.TLS.Mode {
	case "", "verify-full", "verify-ca", "require":
	case "disable":
		if c.TLS.CAFile != "" || c.TLS.CertFile != "" {
			add("tls.mode", "is disable, so ca_file and cert_file have no use")
		}
	case "prefer", "allow":
		add("tls.mode", "%s falls back to plaintext without a word: use verify-full (or disable, for a server on this machine)", c.TLS.Mode)
	default:
		add("tls.mode", "must be verify-full, verify-ca, require or disable, got %q", c.TLS.Mode)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls.cert_file", "cert_file and key_file go together")
	}
	return out
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (c *Config) defaults(idField string) {
	c.Driver = or(c.Driver, "postgres")
	c.Mode = or(c.Mode, ModeTimestampID)
	c.TimestampColumn = or(c.TimestampColumn, DefaultTimestamp)
	c.IDColumn = or(c.IDColumn, idField)
	c.QueryName = or(c.QueryName, DefaultQueryName)
	c.TLS.Mode = or(c.TLS.Mode, "verify-full")
	if c.Delay == nil {
		d := DefaultDelay
		c.Delay = &d
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxRetries == nil {
		n := DefaultMaxRetries
		c.MaxRetries = &n
	}
}

// Source polls one table or query.
type Source struct {
	cfg  Config
	drv  driver
	loc  *time.Location // nil: no naive timestamps allowed
	base string         // the SELECT the poll wraps
	name string         // the table or query name, in positions

	mu      sync.Mutex  // one read at a time on the driver's connection
	checked atomic.Bool // the columns passed check since the last failure
}

var _ connectors.Source = (*Source)(nil)

// New returns a source for cfg; idField is the default id column (the
// schema's key). It does no I/O beyond reading the environment: a database
// that is down shows in the polls, not at start (Check asks at once). It
// fails when the configuration is invalid, cfg.DSNEnv is unset or its
// connection string contradicts cfg.TLS.
func New(cfg Config, idField string) (*Source, error) {
	cfg.defaults(idField)
	if errs := cfg.Validate(); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Field + ": " + e.Msg
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	if cfg.IDColumn == "" {
		return nil, errors.New("id_column: is required (no schema key to default to)")
	}
	dsn, ok := os.LookupEnv(cfg.DSNEnv)
	if !ok || dsn == "" {
		return nil, fmt.Errorf("dsn_env %s is not set: export the database's connection string in it", cfg.DSNEnv)
	}
	drv, err := openDriver(dsn, &cfg)
	if err != nil {
		return nil, fmt.Errorf("dsn_env %s: %w", cfg.DSNEnv, err)
	}
	s := &Source{cfg: cfg, drv: drv}
	if cfg.Timezone != "" {
		s.loc, _ = time.LoadLocation(cfg.Timezone) // Validate loaded it
	}
	if q := strings.TrimSpace(cfg.Query); q != "" {
		s.base = strings.TrimRight(q, "; \t\r\n")
		s.name = cfg.QueryName
	} else {
		cols := make([]string, len(cfg.Columns))
		for i, c := range cfg.Columns {
			cols[i] = drv.quote(c, false)
		}
		s.base = "SELECT " + strings.Join(cols, ", ") + " FROM " + drv.quote(cfg.Table, true)
		s.name = cfg.Table
	}
	return s, nil
}

// Check connects and describes the poll's result without reading a row: it
// reports what every poll would refuse (a missing or mistyped cursor
// column, naive timestamps without a timezone, a column the role may not
// read) so that a pipeline can refuse the source at start.
func (s *Source) Check(ctx context.Context) error {
	res, err := s.read(ctx, s.drv.describeSQL(s.base))
	if err != nil {
		return err
	}
	_, _, err = s.check(res.cols)
	return err
}

// Close drops the connection.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.drv.close(ctx)
}

// Poll reads the rows after cursor, at most BatchSize; more reports a full
// batch. An empty result is a successful poll (the runner's heartbeat).
// Each record's Cursor is the position just after it.
func (s *Source) Poll(ctx context.Context, cursor string) ([]connectors.Record, bool, error) {
	cur, err := ParseCursor(cursor)
	if err != nil {
		return nil, false, err
	}
	// The query's own columns first, for errors that name the setting to
	// change rather than the SQL the connector wrapped around them.
	if !s.checked.Load() {
		if err := s.Check(ctx); err != nil {
			return nil, false, err
		}
		s.checked.Store(true)
	}
	after := cur != (Cursor{})
	var args []any
	if after {
		args = append(args, s.cursorArg(cur.Time), cur.ID)
	}
	args = append(args, s.cfg.Delay.Microseconds(), s.cfg.BatchSize)
	res, err := s.read(ctx, s.drv.pollSQL(s.base, s.cfg.TimestampColumn, s.cfg.IDColumn, after), args...)
	if err == nil {
		var tsCol, idCol int
		if tsCol, idCol, err = s.check(res.cols); err == nil {
			return s.records(res, tsCol, idCol)
		}
	}
	s.checked.Store(false) // the table may have changed: describe it again
	return nil, false, err
}

func (s *Source) records(res result, tsCol, idCol int) ([]connectors.Record, bool, error) {
	recs := make([]connectors.Record, 0, len(res.rows))
	for _, row := range res.rows {
		c, err := s.cursorOf(res.cols, row, tsCol, idCol)
		if err != nil {
			return nil, false, err
		}
		raw, err := s.encode(res.cols, row)
		if err != nil {
			return nil, false, err
		}
		recs = append(recs, connectors.Record{
			Raw:      raw,
			Cursor:   c.String(),
			Position: fmt.Sprintf("sql:%s#ts=%s&id=%s", s.name, c.Time.Format(tsLayout), c.ID),
		})
	}
	return recs, len(res.rows) == s.cfg.BatchSize, nil
}

// cursorArg is the cursor time as text with its offset: exact for a column
// with time zone, and for a naive column (PostgreSQL ignores the offset)
// the wall clock in Timezone.
func (s *Source) cursorArg(t time.Time) string {
	loc := s.loc
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02 15:04:05.000000-07:00:00")
}

// read runs one statement, repeating it on a new connection while the
// connection is lost, at most MaxRetries times.
func (s *Source) read(ctx context.Context, stmt string, args ...any) (result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		res, err := s.drv.read(actx, stmt, args...)
		cancel()
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return result{}, fmt.Errorf("read %s: %w", s.name, ctx.Err())
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return result{}, fmt.Errorf("read %s: no answer within timeout %s: %w", s.name, s.cfg.Timeout, err)
		}
		if !s.drv.transient(err) || attempt >= *s.cfg.MaxRetries {
			if attempt > 0 {
				return result{}, fmt.Errorf("read %s, attempt %d: %w", s.name, attempt+1, err)
			}
			return result{}, fmt.Errorf("read %s: %w", s.name, err)
		}
		d := min(100*time.Millisecond<<attempt, 5*time.Second)
		t := time.NewTimer(d/2 + rand.N(d/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return result{}, fmt.Errorf("read %s: %w", s.name, ctx.Err())
		case <-t.C:
		}
	}
}

// check finds the cursor columns in the result and refuses what the
// connector cannot read correctly.
func (s *Source) check(cols []column) (tsCol, idCol int, err error) {
	tsCol, idCol = -1, -1
	var problems, naive, names []string
	seen := map[string]bool{}
	for i, c := range cols {
		names = append(names, c.name)
		switch {
		case c.name == "?column?":
			problems = append(problems, fmt.Sprintf("column %d has no name: give it one with AS", i+1))
		case seen[c.name]:
			problems = append(problems, fmt.Sprintf("column %s appears twice: rename one with AS", c.name))
		}
		seen[c.name] = true
		if c.kind == kindNaive {
			naive = append(naive, c.name)
		}
		switch c.name {
		case s.cfg.TimestampColumn:
			tsCol = i
		case s.cfg.IDColumn:
			idCol = i
		}
	}
	switch {
	case tsCol < 0:
		problems = append(problems, fmt.Sprintf("timestamp_column %s is not among the columns (%s)", s.cfg.TimestampColumn, strings.Join(names, ", ")))
	case cols[tsCol].kind != kindInstant && cols[tsCol].kind != kindNaive:
		problems = append(problems, fmt.Sprintf("timestamp_column %s is %s: it must be a timestamp", s.cfg.TimestampColumn, cols[tsCol].typ))
	}
	switch {
	case idCol < 0:
		problems = append(problems, fmt.Sprintf("id_column %s is not among the columns (%s)", s.cfg.IDColumn, strings.Join(names, ", ")))
	case cols[idCol].kind != kindInteger && cols[idCol].kind != kindText:
		problems = append(problems, fmt.Sprintf("id_column %s is %s: it must be an integer or text column", s.cfg.IDColumn, cols[idCol].typ))
	}
	if len(naive) > 0 && s.loc == nil {
		problems = append(problems, fmt.Sprintf("%s %s timestamp without time zone: set timezone to the zone its values are written in (e.g. Asia/Shanghai)",
			strings.Join(naive, ", "), map[bool]string{true: "is", false: "are"}[len(naive) == 1]))
	}
	if len(problems) > 0 {
		return -1, -1, fmt.Errorf("columns of %s: %s", s.name, strings.Join(problems, "; "))
	}
	return tsCol, idCol, nil
}

// instant reads a time value of a column as an instant in UTC.
func (s *Source) instant(t time.Time, k kind) time.Time {
	if k == kindNaive {
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), s.loc).UTC()
	}
	return t.UTC()
}

func (s *Source) cursorOf(cols []column, row []any, tsCol, idCol int) (Cursor, error) {
	var c Cursor
	switch id := row[idCol].(type) {
	case int64:
		c.ID = fmt.Sprint(id)
	case string:
		c.ID = id
	default:
		return c, fmt.Errorf("row of %s: id %s is %v, which no cursor can hold", s.name, s.cfg.IDColumn, id)
	}
	t, ok := row[tsCol].(time.Time)
	if !ok {
		return c, fmt.Errorf("row %s=%s of %s: %s is %v, which no cursor can hold: fix the row or leave it out in query",
			s.cfg.IDColumn, c.ID, s.name, s.cfg.TimestampColumn, row[tsCol])
	}
	c.Time = s.instant(t, cols[tsCol].kind)
	if err := c.valid(); err != nil {
		return c, fmt.Errorf("row %s=%s of %s: %s: %w", s.cfg.IDColumn, c.ID, s.name, s.cfg.TimestampColumn, err)
	}
	return c, nil
}

// encode writes a row as a JSON object, the columns in order: timestamps
// as RFC 3339 with microseconds in UTC, numbers as JSON numbers, NULL as
// null.
func (s *Source) encode(cols []column, row []any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	put := func(v any) error {
		if err := enc.Encode(v); err != nil {
			return err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
		return nil
	}
	b.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := put(c.name); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		var err error
		switch v := row[i].(type) {
		case time.Time:
			err = put(s.instant(v, c.kind).Format(tsLayout))
		case json.Number:
			if json.Valid([]byte(v)) {
				b.WriteString(string(v))
			} else {
				err = put(string(v))
			}
		case json.RawMessage:
			if json.Valid(v) {
				err = json.Compact(&b, v)
			} else {
				err = put(string(v))
			}
		default:
			err = put(v)
		}
		if err != nil {
			return nil, fmt.Errorf("encode column %s of %s: %w", c.name, s.name, err)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
