package sqldb

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	sqldriver "database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// postgres reads through one pgx connection, made again after it is lost.
// pgx, not database/sql: the poll needs the result's column types (to find
// timestamp-without-time-zone columns) and pgx's own error and TLS handling.
type postgres struct {
	cfg   *pgx.ConnConfig
	begin string // starts each read's transaction
	conn  *pgx.Conn
}

// defaultApplicationName shows the connector in pg_stat_activity unless the
// connection string names itself.
const defaultApplicationName = "yiwang-sqldb"

func newPostgres(dsn string, cfg *Config) (driver, error) {
	dsn, err := withTLS(dsn, cfg.TLS)
	if err != nil {
		return nil, err
	}
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's own message quotes the string, its password masked only
		// at best: say what is wrong without it.
		why := ""
		var pce *pgconn.ParseConfigError
		if errors.As(err, &pce) && pce.Unwrap() != nil {
			why = ": " + pce.Unwrap().Error()
		}
		return nil, fmt.Errorf("the connection string in %s does not parse as keyword=value pairs or a postgres:// URL%s", cfg.DSNEnv, why)
	}
	hosts := []*pgconn.FallbackConfig{{Host: pc.Host, Port: pc.Port, TLSConfig: pc.TLSConfig}}
	hosts = append(hosts, pc.Fallbacks...)
	for _, h := range hosts {
		if cfg.TLS.Mode == "disable" && !loopback(h.Host) {
			return nil, fmt.Errorf("tls.mode disable is only for a server on this machine (loopback or a unix socket), and %s connects to %s: use verify-full with ca_file", cfg.DSNEnv, h.Host)
		}
		if cfg.TLS.Mode != "disable" && h.TLSConfig == nil {
			return nil, fmt.Errorf("the connection string in %s would connect to %s without TLS", cfg.DSNEnv, h.Host) // cannot happen with an explicit sslmode
		}
	}
	pc.ConnectTimeout = cfg.Timeout
	pc.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec // no server-side statements to go stale
	if _, ok := pc.RuntimeParams["application_name"]; !ok {
		pc.RuntimeParams["application_name"] = defaultApplicationName
	}
	// Settings go with each transaction, not the connection's startup
	// parameters, which a pooler such as PgBouncer may refuse.
	begin := fmt.Sprintf("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = %d", max(cfg.Timeout.Milliseconds(), 1))
	if cfg.Timezone != "" {
		// The delay bound compares a naive column with now(), which
		// PostgreSQL does in the session's time zone.
		begin += "; SET LOCAL TimeZone = '" + strings.ReplaceAll(cfg.Timezone, "'", "''") + "'"
	}
	return &postgres{cfg: pc, begin: begin}, nil
}

// withTLS writes the tls: block into the connection string, so that pgx
// applies it (with its fallbacks over several hosts), and refuses a string
// whose own sslmode says otherwise: the secret cannot weaken the file.
func withTLS(dsn string, t TLSConfig) (string, error) {
	set := [][2]string{{"sslmode", t.Mode}}
	if t.CAFile != "" {
		set = append(set, [2]string{"sslrootcert", t.CAFile})
	}
	if t.CertFile != "" {
		set = append(set, [2]string{"sslcert", t.CertFile}, [2]string{"sslkey", t.KeyFile})
	}
	conflict := func(own string) error {
		if own != "" && own != t.Mode {
			return fmt.Errorf("the connection string sets sslmode=%s but tls.mode is %s: remove sslmode from the connection string (tls.mode decides)", own, t.Mode)
		}
		return nil
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		base, query, _ := strings.Cut(dsn, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return "", errors.New("the connection string's URL query does not parse")
		}
		if err := conflict(q.Get("sslmode")); err != nil {
			return "", err
		}
		for _, kv := range set {
			q.Set(kv[0], kv[1])
		}
		return base + "?" + q.Encode(), nil
	}
	own, err := keywordValue(dsn, "sslmode")
	if err != nil {
		return "", err
	}
	if err := conflict(own); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(dsn)
	for _, kv := range set { // a later keyword wins in pgx as in libpq
		fmt.Fprintf(&b, " %s='%s'", kv[0], strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(kv[1]))
	}
	return b.String(), nil
}

// keywordValue returns the last value of key in a keyword=value string, with
// libpq's quoting: 'single quotes' and backslash escapes.
func keywordValue(s, key string) (string, error) {
	var found string
	for {
		s = strings.TrimLeft(s, " \t\n\r\v\f")
		if s == "" {
			return found, nil
		}
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			return "", errors.New("the connection string is neither a postgres:// URL nor keyword=value pairs")
		}
		k = strings.TrimSpace(k)
		s = strings.TrimLeft(rest, " \t\n\r\v\f")
		var v strings.Builder
		quoted := strings.HasPrefix(s, "'")
		if quoted {
			s = s[1:]
		}
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			if quoted && c == '\'' || !quoted && strings.IndexByte(" \t\n\r\v\f", c) >= 0 {
				break
			}
			if c == '\\' && i+1 < len(s) {
				i++
				c = s[i]
			}
			v.WriteByte(c)
		}
		if quoted {
			if i == len(s) {
				return "", errors.New("the connection string has an unterminated quoted value")
			}
			i++
		}
		s = s[i:]
		if k == key {
			found = v.String()
		}
	}
}

func loopback(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (*postgres) quote(name string, qualified bool) string {
	parts := []string{name}
	if qualified {
		parts = strings.Split(name, ".")
	}
	for i, p := range parts {
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
	}
	return strings.Join(parts, ".")
}

func (p *postgres) pollSQL(base, ts, id string, after bool) string {
	ts, id = "src."+p.quote(ts, false), "src."+p.quote(id, false)
	var b strings.Builder
	// The newline ends a -- comment that base may close with.
	fmt.Fprintf(&b, "SELECT * FROM (%s\n) AS src WHERE ", base)
	n := 1
	if after {
		fmt.Fprintf(&b, "(%s, %s) > ($1, $2) AND ", ts, id)
		n = 3
	}
	fmt.Fprintf(&b, "%s IS NOT NULL AND %s < now() - $%d * interval '1 microsecond' ORDER BY %s, %s LIMIT $%d",
		id, ts, n, ts, id, n+1)
	return b.String()
}

func (*postgres) describeSQL(base string) string {
	return fmt.Sprintf("SELECT * FROM (%s\n) AS src LIMIT 0", base)
}

// lostError is a failure that took the connection with it.
type lostError struct{ err error }

func (e *lostError) Error() string { return e.err.Error() }
func (e *lostError) Unwrap() error { return e.err }

func (p *postgres) read(ctx context.Context, stmt string, args ...any) (result, error) {
	if p.conn == nil {
		c, err := pgx.ConnectConfig(ctx, p.cfg)
		if err != nil {
			return result{}, fmt.Errorf("connect to %s: %w", p.where(), err)
		}
		p.conn = c
	}
	res, err := snapshot(ctx, p.conn, p.begin, stmt, args)
	if err != nil && p.conn.IsClosed() {
		p.conn = nil
		return res, &lostError{err}
	}
	return res, err
}

func (p *postgres) where() string {
	return fmt.Sprintf("%s:%d/%s", p.cfg.Host, p.cfg.Port, p.cfg.Database)
}

// snapshot reads stmt in one REPEATABLE READ READ ONLY transaction, begun
// by begin: a consistent view even if the statement is split later, and no
// write however the query is written.
func snapshot(ctx context.Context, conn *pgx.Conn, begin, stmt string, args []any) (res result, err error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		return res, fmt.Errorf("begin read-only transaction: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(ctx) // the error that matters is err
		}
	}()
	rows, err := tx.Query(ctx, stmt, args...)
	if err != nil {
		return res, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	m := conn.TypeMap()
	res.cols = make([]column, len(fds))
	for i, fd := range fds {
		res.cols[i] = column{name: fd.Name, kind: pgKind(fd.DataTypeOID), typ: pgTypeName(m, fd.DataTypeOID)}
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return res, fmt.Errorf("decode row %d: %w", len(res.rows)+1, err)
		}
		raw := rows.RawValues()
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = pgValue(fds[i], v, raw[i])
		}
		res.rows = append(res.rows, row)
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("query: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("end read-only transaction: %w", err)
	}
	return res, nil
}

func (*postgres) transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", // admin_shutdown: pg_terminate_backend, a fast shutdown
			"57P02", // crash_shutdown
			"57P03", // cannot_connect_now: starting up or in recovery
			"53300", // too_many_connections
			"40001", // serialization_failure
			"40P01": // deadlock_detected
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection_exception
	}
	var (
		certErr     *tls.CertificateVerificationError
		unknownCA   x509.UnknownAuthorityError
		hostnameErr x509.HostnameError
	)
	if errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostnameErr) {
		return false
	}
	var lost *lostError
	var connect *pgconn.ConnectError
	return errors.As(err, &lost) || errors.As(err, &connect)
}

func (p *postgres) close(ctx context.Context) error {
	if p.conn == nil {
		return nil
	}
	err := p.conn.Close(ctx)
	p.conn = nil
	return err
}

func pgKind(oid uint32) kind {
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		return kindInteger
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.UUIDOID:
		return kindText
	case pgtype.TimestamptzOID:
		return kindInstant
	case pgtype.TimestampOID:
		return kindNaive
	}
	return kindOther
}

func pgTypeName(m *pgtype.Map, oid uint32) string {
	if t, ok := m.TypeForOID(oid); ok {
		return t.Name
	}
	return fmt.Sprintf("type oid %d", oid)
}

// pgValue brings what pgx decoded into the forms documented on result.
func pgValue(fd pgconn.FieldDescription, v any, raw []byte) any {
	if v == nil {
		return nil
	}
	switch fd.DataTypeOID {
	case pgtype.JSONOID, pgtype.JSONBOID:
		// The text as stored, not pgx's decoding into float64 numbers.
		if fd.Format == pgtype.BinaryFormatCode && fd.DataTypeOID == pgtype.JSONBOID && len(raw) > 0 {
			raw = raw[1:] // jsonb's version byte
		}
		return json.RawMessage(raw)
	case pgtype.DateOID:
		if t, ok := v.(time.Time); ok {
			return t.Format(time.DateOnly)
		}
	}
	return goValue(v)
}

func goValue(v any) any {
	switch v := v.(type) {
	case nil, bool, string, int64, []byte:
		return v
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case float32:
		return finite(float64(v))
	case float64:
		return finite(v)
	case time.Time:
		return v
	case pgtype.InfinityModifier:
		if v < 0 {
			return "-infinity"
		}
		return "infinity"
	case pgtype.Numeric:
		b, err := v.MarshalJSON()
		if err != nil {
			return nil
		}
		if b[0] == '"' { // NaN, Infinity: a string, for the schema to refuse
			return strings.Trim(string(b), `"`)
		}
		return json.Number(b)
	case [16]byte: // uuid
		return fmt.Sprintf("%x-%x-%x-%x-%x", v[0:4], v[4:6], v[6:8], v[8:10], v[10:16])
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = goValue(x)
		}
		return out
	case sqldriver.Valuer: // interval, time, inet...: PostgreSQL's text form
		tv, err := v.Value()
		if err != nil {
			return nil
		}
		return goValue(tv)
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

func finite(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}
