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
