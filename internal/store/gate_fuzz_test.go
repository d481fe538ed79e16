package store

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// gateSeeds are statements an attacker would try; $DB stands for the
// database file.
var gateSeeds = []string{
	"COPY grid_events TO '$DB.csv'",
	"COPY (SELECT 'x') TO '$DB' (FORMAT csv, USE_TMP_FILE false)",
	"EXPLAIN ANALYZE COPY (SELECT 'x') TO '$DB.wal.recovery' (FORMAT csv)",
	"ATTACH '$DB.2' AS other", "ATTACH ':memory:' AS m", "DETACH yiwang", "USE memory",
	"INSTALL httpfs", "LOAD httpfs", "UPDATE EXTENSIONS",
	"SET memory_limit = '1TB'", "SET threads = 64", "RESET memory_limit", "SET search_path = 'x'",
	"SET VARIABLE v = 1", "SELECT getvariable('v')",
	"PRAGMA enable_profiling", "PRAGMA force_checkpoint", "CALL checkpoint()", "CALL pragma_version()",
	"EXPORT DATABASE '$DB.export'", "IMPORT DATABASE '$DB.export'",
	"CREATE TABLE x (a INT)", "CREATE VIEW v AS SELECT 1", "CREATE MACRO m(a) AS a", "CREATE SECRET (TYPE s3)",
	"CREATE TEMP TABLE t AS SELECT 1", "INSERT INTO load_offsets VALUES ('x', 0, 0, now())",
	"UPDATE load_offsets SET next_offset = 0", "DELETE FROM grid_events", "TRUNCATE grid_events", "DROP TABLE grid_events",
	"ALTER TABLE grid_events RENAME TO g", "BEGIN", "COMMIT", "ROLLBACK", "CHECKPOINT", "FORCE CHECKPOINT", "VACUUM", "ANALYZE",
	"PREPARE p AS SELECT 1", "EXECUTE p", "DEALLOCATE p",
	"WITH x AS (SELECT 1) DELETE FROM grid_events",
	"WITH x AS (SELECT 1) UPDATE load_offsets SET next_offset = 0 RETURNING *",
	"EXPLAIN SELECT 1", "EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE DROP TABLE grid_events",
	"EXPLAIN ANALYZE CHECKPOINT", "EXPLAIN ANALYZE VACUUM", "EXPLAIN ANALYZE PRAGMA enable_profiling",
	"SUMMARIZE grid_events", "SUMMARIZE SELECT * FROM read_blob('$DB')", "DESCRIBE grid_events", "DESCRIBE '$DB.wal'",
	"SHOW TABLES", "SHOW ALL TABLES", "SHOW databases", "SHOW grid_events",
	"PIVOT grid_events ON status USING count(*)", "FROM grid_events PIVOT (count(*) FOR status IN ('closed'))",
	"SELECT * FROM read_csv('$DB')", "SELECT * FROM read_csv_auto('/etc/passwd')", "SELECT * FROM read_text('$DB.wal')",
	"SELECT * FROM read_blob('$DB')", "SELECT * FROM read_parquet('$DB')", "SELECT * FROM read_json('$DB')",
	"SELECT * FROM read_duckdb('$DB')", "SELECT * FROM glob('*')", "SELECT * FROM sniff_csv('$DB')",
	"SELECT * FROM parquet_metadata('$DB')", "SELECT * FROM '$DB'", "SELECT * FROM '$DB.wal'", `SELECT * FROM "x.csv"`,
	"FROM checkpoint()", "FROM force_checkpoint()", "FROM system.main.checkpoint()", "FROM enable_profiling()",
	"FROM enable_logging()", "FROM truncate_duckdb_logs()", "FROM disable_peg_parser()", "FROM duckdb_settings()",
	"FROM duckdb_secrets()", "FROM duckdb_databases()", "FROM pragma_database_size()", "FROM which_secret('s3://x', 's3')",
	"FROM query('delete from grid_events')", "FROM query_table('grid_events')", "FROM histogram_values(grid_events, status)",
	`FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM read_blob(''$DB'')'))`,
	"SELECT json_serialize_plan('SELECT * FROM read_csv(''$DB'')')",
	"SELECT nextval('s')", "SELECT main.nextval('s')", `SELECT "NEXTVAL"('s')`, "SELECT (SELECT nextval('s'))",
	"WITH x AS (SELECT nextval('s')) SELECT * FROM x", "SELECT list_transform([1], x -> nextval('s'))",
	"SELECT * FROM range(2) WHERE EXISTS (FROM read_text('$DB'))", "SELECT count(*) OVER () FROM range(nextval('s'))",
	"SELECT setseed(0.5)", "SELECT write_log('x')", "SELECT sleep_ms(1)", "SELECT pg_sleep(0.001)",
	"SELECT __internal_compress_string_utinyint('a')", "SELECT current_setting('memory_limit')",
	"SELECT read_blob('$DB')", "SELECT checkpoint()", "SELECT query('delete from grid_events')",
	"select 1; drop table grid_events", "select 1;; select 2", "SELECT 1 /* ; DROP TABLE grid_events */",
	"SELECT '--' ; DROP TABLE grid_events", "SELECT 1 --\n; DROP TABLE grid_events", "SELECT $$;$$; DROP TABLE grid_events",
	`SELECT "a;b" FROM (SELECT 1 AS "a;b")`, "SELECT 1) LIMIT 1; DROP TABLE grid_events; SELECT * FROM (SELECT 1",
	"SELECT 1 /* unterminated", "SELECT 'unterminated", "SELECT 1; -- only a comment after", "/* c */ SELECT 1 -- c",
	"SELECT * FROM grid_events", "SELECT status, count(*) FROM grid_events GROUP BY ALL", "VALUES (1)", "TABLE load_offsets",
	"WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT * FROM t",
	"SELECT * FROM duckdb_tables()", "SELECT * FROM range(3) r, LATERAL (SELECT r.range)",
	"SELECT repeat(repeat('x', 1000000), 1500)", "SELECT lpad('x', 1000000000, 'y')", "SELECT range(1000000000)",
	"SELECT printf('%01000000000d', 1)", "SELECT * FROM pg_settings", "SELECT path FROM duckdb_databases",
	"FROM duckdb_logs", "SELECT get_block_size('memory')",
}

// FuzzSQLGate runs every statement through the admin gate against a real
// database file and checks that none, accepted or refused, changed the
// tables, sequences, settings or the data dir's files.
func FuzzSQLGate(f *testing.F) {
	for _, s := range gateSeeds {
		f.Add(s)
	}
	sc := openScratch(f)
	was := sc.state(f)
	f.Fuzz(func(t *testing.T, q string) {
		q = strings.ReplaceAll(q, "$DB", sc.db)
		_, err := sc.s.AdminQuery(context.Background(), q, Limits{Rows: 100, Timeout: 2 * time.Second},
			func([]string) error { return nil }, func([]any) error { return nil })
		if d := sc.state(t).diff(was); d != "" {
			t.Fatalf("%q (err %v): %s", q, err, d)
		}
	})
}

// TestGateSeedsMostlyRefused: of the seeds, only the plain reads pass.
func TestGateSeedsMostlyRefused(t *testing.T) {
	sc := openScratch(t)
	accepted := map[string]bool{
		"SUMMARIZE grid_events": true, "DESCRIBE grid_events": true, "SHOW TABLES": true, "SHOW ALL TABLES": true,
		"FROM grid_events PIVOT (count(*) FOR status IN ('closed'))": true, "SHOW grid_events": true,
		`SELECT "a;b" FROM (SELECT 1 AS "a;b")`: true, "SELECT 1 /* ; DROP TABLE grid_events */": true, "/* c */ SELECT 1 -- c": true,
		"SELECT * FROM grid_events": true, "SELECT status, count(*) FROM grid_events GROUP BY ALL": true, "VALUES (1)": true,
		"TABLE load_offsets": true, "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT * FROM t": true,
		"SELECT * FROM duckdb_tables()": true, "SELECT * FROM range(3) r, LATERAL (SELECT r.range)": true,
		"SELECT getvariable('v')": true,
	}
	was := sc.state(t)
	for _, q := range gateSeeds {
		_, err := sc.s.Query(context.Background(), strings.ReplaceAll(q, "$DB", sc.db), 10)
		switch {
		case accepted[q] && err != nil:
			t.Errorf("%q refused: %v", q, err)
		case !accepted[q] && err == nil:
			t.Errorf("%q accepted", q)
		case !accepted[q] && !errors.Is(err, ErrNotReadOnly) && !strings.Contains(err.Error(), "Parser Error"):
			t.Logf("%q: refused by DuckDB, not the gate: %v", q, err)
		}
	}
	if d := sc.state(t).diff(was); d != "" {
		t.Fatal(d)
	}
}

// TestFunctionCatalogReviewed pins the functions of this DuckDB build
// (testdata/duckdb_functions.txt). When an upgrade changes them, read the
// new ones against tableFuncs and deniedFuncs (gate.go), then run the test
// with -update.
func TestFunctionCatalogReviewed(t *testing.T) {
	s := openTest(t)
	var got string
	if err := s.DB().QueryRow(`SELECT string_agg(DISTINCT function_type || ' ' || function_name, chr(10) ORDER BY function_type || ' ' || function_name)
		FROM duckdb_functions() WHERE NOT starts_with(function_name, '__internal')`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	got += "\n"
	golden := filepath.Join("testdata", "duckdb_functions.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("DuckDB's functions changed; review against the gate's lists, then -update:\n%s\n(gone:)\n%s", lineDiff(string(want), got), lineDiff(got, string(want)))
	}
	for _, set := range []map[string]bool{tableFuncs, deniedFuncs} {
		for n := range set {
			if !strings.Contains(got, " "+n+"\n") {
				t.Errorf("%s is on a gate list but not a function of this build", n)
			}
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		typ, name, _ := strings.Cut(l, " ")
		if typ == "table" && tableFuncs[name] {
			if _, err := s.Query(context.Background(), "SELECT 1 FROM "+name+"() LIMIT 0", 1); errors.Is(err, ErrNotReadOnly) {
				t.Errorf("allowed table function %s refused: %v", name, err)
			}
		}
	}
}
