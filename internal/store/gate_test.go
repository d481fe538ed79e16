package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/schemas"
)

// scratch is a store on a real file with rows in grid_events and
// load_offsets, checkpointed so that the WAL is empty.
type scratch struct {
	s   *Store
	dir string // the data dir, holding only the database file and its WAL
	db  string
}

func openScratch(t testing.TB) *scratch {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "yiwang.duckdb")
	s, err := Open(ctx, path, Options{Threads: 2, TempDir: filepath.Join(t.TempDir(), "spill")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	reg, _ := schemas.LoadEmbedded()
	if err := s.MigrateSchemas(ctx, reg); err != nil {
		t.Fatal(err)
	}
	ev, _ := reg.Get("grid_event")
	t0 := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	rows := [][]any{eventRow(ev, "E1", "reported", t0), eventRow(ev, "E2", "closed", t0)}
	if err := s.Apply(ctx, Batch{Tables: []TableRows{{ev, rows}}, Next: map[string]map[int]int64{"t": {0: 2}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, "CREATE SEQUENCE s"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	return &scratch{s: s, dir: dir, db: path}
}

// state is what no admin query may change.
type state struct {
	tables, settings, files string
}

func (sc *scratch) state(t testing.TB) state {
	t.Helper()
	ctx := context.Background()
	var st state
	q := `SELECT (SELECT md5(string_agg(e::VARCHAR, '|' ORDER BY event_id)) FROM grid_events e) ||
	             (SELECT md5(string_agg(o::VARCHAR, '|' ORDER BY topic, partition)) FROM load_offsets o) ||
	             (SELECT string_agg(sequence_name || ':' || coalesce(last_value, -1), ',') FROM duckdb_sequences())`
	if err := sc.s.DB().QueryRowContext(ctx, q).Scan(&st.tables); err != nil {
		t.Fatalf("read tables: %v", err)
	}
	// The admin connection's settings, local ones included.
	c, err := sc.s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sc.s.admin != nil {
		c = sc.s.admin
	}
	if err := c.QueryRowContext(ctx, "SELECT string_agg(name || '=' || coalesce(value, 'NULL'), '\n' ORDER BY name) FROM duckdb_settings()").Scan(&st.settings); err != nil {
		t.Fatalf("read settings: %v", err)
	}
	var files []string
	err = filepath.Walk(sc.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			files = append(files, p+"/")
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, fmt.Sprintf("%s %d %s %x", p, fi.Size(), fi.ModTime().Format(time.RFC3339Nano), sha256.Sum256(b)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	st.files = strings.Join(files, "\n")
	return st
}

func (st state) diff(was state) string {
	var d []string
	if st.tables != was.tables {
		d = append(d, "tables or sequences changed")
	}
	if st.settings != was.settings {
		d = append(d, "settings changed:\n"+lineDiff(was.settings, st.settings))
	}
	if st.files != was.files {
		d = append(d, "data dir changed:\n"+lineDiff(was.files, st.files))
	}
	return strings.Join(d, "; ")
}

func lineDiff(a, b string) string {
	in := map[string]bool{}
	for _, l := range strings.Split(a, "\n") {
		in[l] = true
	}
	var out []string
	for _, l := range strings.Split(b, "\n") {
		if !in[l] {
			out = append(out, "  now: "+l)
		}
	}
	return strings.Join(out, "\n")
}

// probeStatements are what a security probe of POST /api/v1/sql got
// through the first-keyword gate; %s is the database file.
var probeStatements = []struct{ name, sql string }{
	{"explain analyze copy over the database", `EXPLAIN ANALYZE COPY (select 'x') TO '%s' (FORMAT csv, USE_TMP_FILE false)`},
	{"explain analyze copy a wal recovery file", `EXPLAIN ANALYZE COPY (select 'x') TO '%s.wal.recovery' (FORMAT csv)`},
	{"read_blob of the database", `SELECT * FROM read_blob('%s')`},
	{"read_blob of the wal", `SELECT * FROM read_blob('%s.wal')`},
	{"read_text of the database", `SELECT * FROM read_text('%s')`},
	{"replacement scan of the database", `SELECT * FROM '%s'`},
	{"with delete", `WITH x AS (select 1) DELETE FROM grid_events`},
	{"with update returning", `WITH x AS (select 1) UPDATE load_offsets SET next_offset=0 RETURNING *`},
	{"explain analyze drop", `EXPLAIN ANALYZE DROP TABLE grid_events`},
	{"from checkpoint", `FROM checkpoint()`},
	{"select from force_checkpoint", `SELECT * FROM force_checkpoint()`},
	{"explain analyze checkpoint", `EXPLAIN ANALYZE CHECKPOINT`},
	{"explain analyze vacuum", `EXPLAIN ANALYZE VACUUM`},
	{"explain analyze pragma", `EXPLAIN ANALYZE PRAGMA enable_profiling`},
	{"explain", `EXPLAIN SELECT 1`},
	{"nextval", `SELECT nextval('s')`},
	{"query runs text", `FROM query('delete from grid_events')`},
	{"multi statement", `select 1; drop table grid_events`},
	// Values of any size in one call, which DuckDB's memory_limit does
	// not count: the first took the process to 7.4 GB.
	{"repeat of repeat", `SELECT repeat(repeat('x', 1000000), 1500)`},
	{"lpad", `SELECT lpad('x', 1000000000, 'y')`},
	{"printf width", `SELECT printf('%%01000000000d', 1)`},
	{"list range", `SELECT range(1000000000)`},
	{"list_resize", `SELECT list_resize([1], 1000000000)`},
	// System views that show the process rather than the schema.
	{"pg_settings", `SELECT * FROM pg_settings`},
	{"duckdb_settings view", `SELECT * FROM duckdb_settings`},
	{"duckdb_databases view", `SELECT path FROM duckdb_databases`},
	{"duckdb_logs view", `FROM duckdb_logs`},
	{"current_setting", `SELECT current_setting('temp_directory')`},
	{"get_block_size", `SELECT get_block_size('memory')`},
}

// TestProbeStatementsRefused replays the probe: every statement is refused
// by the gate, and none changed the tables, the settings or the data dir.
func TestProbeStatementsRefused(t *testing.T) {
	ctx := context.Background()
	sc := openScratch(t)
	was := sc.state(t)
	for _, tc := range probeStatements {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.sql
			if strings.Contains(q, "%s") {
				q = fmt.Sprintf(q, sc.db)
			}
			res, err := sc.s.Query(ctx, q, 10)
			if !errors.Is(err, ErrNotReadOnly) {
				t.Errorf("%s: err = %v (result %v), want ErrNotReadOnly", q, err, res)
			}
			if d := sc.state(t).diff(was); d != "" {
				t.Errorf("%s: %s", q, d)
				was = sc.state(t)
			}
		})
	}
}

// TestGateAccepts runs the kinds of SELECT an admin writes.
func TestGateAccepts(t *testing.T) {
	ctx := context.Background()
	sc := openScratch(t)
	for _, q := range []string{
		"SELECT status, count(*) FROM grid_events GROUP BY ALL ORDER BY 1",
		"FROM grid_events SELECT event_id WHERE status = 'closed'",
		"WITH c AS MATERIALIZED (SELECT * FROM grid_events) SELECT count(*) FROM c",
		"WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT sum(n) FROM t",
		"SELECT * FROM range(3) r, LATERAL (SELECT r.range * 2 AS d)",
		"VALUES (1, 'a'), (2, 'b')",
		"TABLE load_offsets",
		"DESCRIBE grid_events",
		"SUMMARIZE SELECT * FROM grid_events",
		"SHOW TABLES",
		"FROM grid_events PIVOT (count(*) FOR status IN ('closed', 'reported'))",
		"SELECT table_name, estimated_size FROM duckdb_tables() ORDER BY 1",
		"SELECT * FROM unnest([1, 2, 3]) UNION ALL SELECT 4 EXCEPT SELECT 2",
		"SELECT version(), md5('x'), [x * 2 FOR x IN [1, 2]], concat('a', 'b')",
		"SELECT * FROM range(2) r, generate_series(1, 2) g, repeat('x', 2)",
		"SELECT table_name FROM duckdb_tables UNION ALL SELECT relname FROM pg_class",
		"SELECT 'a;b' AS s, 42 AS n -- trailing; comment\n;",
		"SELECT event_id FROM grid_events ORDER BY event_id DESC LIMIT 1 OFFSET 1",
		"SELECT * FROM main.grid_events e JOIN load_offsets o ON true",
	} {
		if _, err := sc.s.Query(ctx, q, 10); err != nil {
			t.Errorf("%q: %v", q, err)
		}
	}
	res, err := sc.s.Query(ctx, "SELECT event_id FROM grid_events ORDER BY event_id DESC", 10)
	if err != nil || len(res.Rows) != 2 || res.Rows[0][0] != "E2" || res.Truncated {
		t.Fatalf("order under the limit: %+v %v", res, err)
	}
}

// TestAdminQueryLimits: each limit stops the result and says so.
func TestAdminQueryLimits(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, tc := range []struct {
		name, sql string
		lim       Limits
		rows      int
		why       string
	}{
		{"complete", "SELECT * FROM range(5)", Limits{Rows: 5}, 5, ""},
		{"rows", "SELECT * FROM range(1000000)", Limits{Rows: 3}, 3, TruncatedRows},
		{"bytes", "SELECT md5(range::VARCHAR) FROM range(1000)", Limits{Bytes: 10_000}, 285, TruncatedBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cols []string
			n := 0
			why, err := s.AdminQuery(ctx, tc.sql, tc.lim, func(c []string) error { cols = c; return nil }, func([]any) error { n++; return nil })
			if err != nil || why != tc.why || n != tc.rows || len(cols) != 1 {
				t.Fatalf("truncated %q err %v rows %d cols %v; want %q, %d rows", why, err, n, cols, tc.why, tc.rows)
			}
		})
	}
	// A callback's error stops the query and is returned.
	stop := errors.New("client gone")
	if _, err := s.AdminQuery(ctx, "SELECT * FROM range(10)", Limits{}, func([]string) error { return nil }, func([]any) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the callback's", err)
	}
	// StreamArgs has the same limits, with arguments.
	n := 0
	why, err := s.StreamArgs(ctx, "SELECT * FROM range(?)", Limits{Rows: 2}, func([]string) error { return nil }, func([]any) error { n++; return nil }, 10)
	if err != nil || why != TruncatedRows || n != 2 {
		t.Fatalf("StreamArgs: %q %v %d", why, err, n)
	}
}

func duckMemory(t testing.TB, s *Store) int64 {
	t.Helper()
	var n int64
	if err := s.DB().QueryRow("SELECT sum(memory_usage_bytes)::BIGINT FROM duckdb_memory()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAdminQueryTimeoutAndCancel: a query that never ends is interrupted at
// its time limit, or when its caller goes away, and its memory is freed.
func TestAdminQueryTimeoutAndCancel(t *testing.T) {
	s := openTest(t)
	const endless = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t"
	before := duckMemory(t, s)
	none := func([]string) error { return nil }
	var during atomic.Int64
	time.AfterFunc(1500*time.Millisecond, func() {
		var n int64
		_ = s.DB().QueryRow("SELECT sum(memory_usage_bytes)::BIGINT FROM duckdb_memory()").Scan(&n)
		during.Store(n)
	})
	_, err := s.AdminQuery(context.Background(), endless, Limits{Timeout: 2 * time.Second}, none, func([]any) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	_, err = s.AdminQuery(ctx, endless, Limits{Timeout: time.Hour}, none, func([]any) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancelled", err)
	}
	after := duckMemory(t, s)
	t.Logf("DuckDB memory: %d before, %d while running, %d after", before, during.Load(), after)
	if after > before+16<<20 {
		t.Fatalf("DuckDB holds %d bytes after the interrupted queries, %d before", after, before)
	}
	// And the admin connection answers again.
	if res, err := s.Query(context.Background(), "SELECT 1", 1); err != nil || len(res.Rows) != 1 {
		t.Fatalf("after interrupts: %+v %v", res, err)
	}
}

// TestAdminQueryMemoryBudget: queries that build values outside DuckDB's
// memory_limit — one aggregated string, a string doubled by recursion —
// stop once the process has grown past Limits.Memory, and the store
// answers after.
func TestAdminQueryMemoryBudget(t *testing.T) {
	if _, ok := residentBytes(); !ok {
		t.Skip("no /proc/self/statm on this system")
	}
	ctx := context.Background()
	s := openTest(t)
	none := func([]string) error { return nil }
	for _, q := range []string{
		"SELECT length(string_agg(md5(range::VARCHAR), '')) FROM range(200000000)",
		"WITH RECURSIVE t(s, n) AS (SELECT 'x', 0 UNION ALL SELECT s || s, n + 1 FROM t WHERE n < 34) SELECT max(length(s)) FROM t",
	} {
		before, _ := residentBytes()
		_, err := s.AdminQuery(ctx, q, Limits{Memory: 256 << 20, Timeout: 5 * time.Minute}, none, func([]any) error { return nil })
		after, _ := residentBytes()
		t.Logf("%s: %v; RSS %d → %d MiB", q, err, before>>20, after>>20)
		if !errors.Is(err, ErrQueryMemory) {
			t.Errorf("%s: err = %v, want ErrQueryMemory", q, err)
		}
	}
	if res, err := s.Query(ctx, "SELECT 1", 1); err != nil || len(res.Rows) != 1 {
		t.Fatalf("after: %+v %v", res, err)
	}
}

// TestOutOfMemoryFailsTheQueryOnly: with a small memory limit and no spill,
// a hash aggregate too large for it errors and the store answers after.
func TestOutOfMemoryFailsTheQueryOnly(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "m.duckdb"), Options{Threads: 2, MemoryBytes: 200 << 20, MaxTempBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, q := range []string{
		"SELECT count(*) FROM (SELECT range % 50000000 AS g, count(*) FROM range(100000000) GROUP BY g)",
		"SELECT count(*) FROM (SELECT md5(range::VARCHAR) AS h FROM range(20000000) ORDER BY h)",
	} {
		_, err = s.Query(ctx, q, 10)
		if err == nil || !strings.Contains(err.Error(), "Out of Memory") {
			t.Errorf("%s: err = %v, want Out of Memory", q, err)
		}
	}
	if res, err := s.Query(ctx, "SELECT count(*) FROM range(1000)", 1); err != nil || res.Rows[0][0] != int64(1000) {
		t.Fatalf("after the failure: %+v %v", res, err)
	}
}

func TestDefaultLimitsOfTheMachine(t *testing.T) {
	if m := DefaultMemoryLimit(); m <= 0 || m > memTotal() {
		t.Errorf("memory limit %d of %d", m, memTotal())
	}
	if n := DefaultMaxTempBytes(filepath.Join(t.TempDir(), "not", "yet")); n <= 0 || n > maxTempCeiling {
		t.Errorf("temp cap %d", n)
	}
	s := openTest(t)
	var mem, maxTemp string
	if err := s.DB().QueryRow("SELECT current_setting('memory_limit'), current_setting('max_temp_directory_size')").Scan(&mem, &maxTemp); err != nil {
		t.Fatal(err)
	}
	t.Logf("memory_limit %s, max_temp_directory_size %s", mem, maxTemp)
}
