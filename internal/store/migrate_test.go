package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrate: migrations apply once in order and are recorded; a later
// start applies only the new ones; a database of a newer yiwang and a
// list with a gap are refused; a table made before schema_versions
// existed is adopted by its IF NOT EXISTS first version.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.duckdb")
	st, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.DB().ExecContext(ctx, "CREATE TABLE notes (id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	v1 := []Migration{{Version: 1, Name: "notes", SQL: "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY)"}}
	v2 := append(v1, Migration{Version: 2, Name: "note text", SQL: "ALTER TABLE notes ADD COLUMN body VARCHAR"})
	for _, ms := range [][]Migration{v1, v2, v2} { // the last: nothing left to do
		if err := st.Migrate(ctx, "notes", ms); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DB().ExecContext(ctx, "INSERT INTO notes VALUES (1, 'x')"); err != nil {
		t.Fatalf("version 2 not applied: %v", err)
	}
	vs, err := versions(ctx, st)
	if err != nil || vs["notes"] != 2 || vs["store"] != len(migrations) {
		t.Fatalf("versions %v %v", vs, err)
	}
	if err := st.Migrate(ctx, "notes", v1); err == nil || !strings.Contains(err.Error(), "written by a newer yiwang") {
		t.Errorf("an older list against a newer database: %v", err)
	}
	gap := []Migration{{Version: 1, Name: "a", SQL: "SELECT 1"}, {Version: 3, Name: "c", SQL: "SELECT 1"}}
	if err := st.Migrate(ctx, "gap", gap); err == nil || !strings.Contains(err.Error(), "without gaps") {
		t.Errorf("a gap: %v", err)
	}
	bad := append(v2, Migration{Version: 3, Name: "broken", SQL: "ALTER TABLE nowhere ADD COLUMN x INT"})
	if err := st.Migrate(ctx, "notes", bad); err == nil || !strings.Contains(err.Error(), "notes migration 3 (broken)") {
		t.Errorf("a failing migration: %v", err)
	}
	if vs, _ := versions(ctx, st); vs["notes"] != 2 {
		t.Errorf("a failed migration was recorded: %v", vs)
	}
}

// versions returns the version every component's tables are at.
func versions(ctx context.Context, st *Store) (map[string]int, error) {
	rows, err := st.DB().QueryContext(ctx, "SELECT component, max(version) FROM schema_versions GROUP BY 1")
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := map[string]int{}
	for rows.Next() {
		var c string
		var v int
		if err := rows.Scan(&c, &v); err != nil {
			return nil, err
		}
		out[c] = v
	}
	return out, rows.Err()
}
