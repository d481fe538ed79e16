package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"github.com/yiwang-gov/yiwang/schemas"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir()+"/y.duckdb", Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openEvents opens a scratch store with every schema's table and returns
// the grid events' schema.
func openEvents(t *testing.T) (context.Context, *Store, *schemas.Schema) {
	t.Helper()
	ctx := context.Background()
	s := openTest(t)
	reg, _ := schemas.LoadEmbedded()
	if err := s.MigrateSchemas(ctx, reg); err != nil {
		t.Fatal(err)
	}
	ev, _ := reg.Get("grid_event")
	return ctx, s, ev
}

func eventRow(sc *schemas.Schema, id, status string, updated time.Time) []any {
	obj := map[string]any{"event_id": id, "source": "resident", "category_major": "01", "urgency": "normal",
		"grid_code": "220173002001001", "status": status, "reported_at": "2026-11-26T00:00:00Z",
		"updated_at": updated.Format(time.RFC3339Nano)}
	r, err := sc.Row(obj)
	if err != nil {
		panic(err)
	}
	return r
}

func TestApplyUpsertsByVersionWithOffsets(t *testing.T) {
	ctx, s, ev := openEvents(t)
	t0 := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	steps := []Batch{
		{Tables: []TableRows{{ev, [][]any{eventRow(ev, "E1", "reported", t0), eventRow(ev, "E2", "reported", t0)}}}, Next: map[string]map[int]int64{"t": {0: 2}}},
		{Tables: []TableRows{{ev, [][]any{eventRow(ev, "E1", "closed", t0.Add(time.Hour))}}}, Next: map[string]map[int]int64{"t": {0: 3}}},
		// A late, older version must not overwrite the newer one.
		{Tables: []TableRows{{ev, [][]any{eventRow(ev, "E1", "dispatched", t0.Add(time.Minute))}}}, Next: map[string]map[int]int64{"t": {0: 4, 1: 7}}},
	}
	for _, b := range steps {
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var status string
	var n int
	if err := s.DB().QueryRow("SELECT status, (SELECT count(*) FROM grid_events) FROM grid_events WHERE event_id='E1'").Scan(&status, &n); err != nil {
		t.Fatal(err)
	}
	if status != "closed" || n != 2 {
		t.Fatalf("status %s rows %d, want closed 2", status, n)
	}
	offs, err := s.Offsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if offs["t"][0] != 4 || offs["t"][1] != 7 {
		t.Fatalf("offsets %v", offs)
	}
	// A failing batch commits neither rows nor offsets.
	bad := Batch{Tables: []TableRows{{ev, [][]any{eventRow(ev, "E9", "reported", t0), {"too", "short"}}}}, Next: map[string]map[int]int64{"t": {0: 99}}}
	if err := s.Apply(ctx, bad); err == nil {
		t.Fatal("want an error for a malformed row")
	}
	offs, _ = s.Offsets(ctx)
	if offs["t"][0] != 4 {
		t.Fatalf("offset moved on a failed batch: %v", offs)
	}
	if err := s.DB().QueryRow("SELECT count(*) FROM grid_events WHERE event_id='E9'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("row of failed batch present: %d %v", n, err)
	}
	// And the loader connection still works afterwards.
	if err := s.Apply(ctx, Batch{Tables: []TableRows{{ev, [][]any{eventRow(ev, "E9", "reported", t0)}}}, Next: map[string]map[int]int64{"t": {0: 5}}}); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateSchemasAdditiveOnly(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	v1 := `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
"x-yiwang":{"table":"things","topic":"yiwang.thing.v1","key":["id"],"event_time":"t","version_field":"t","area_field":"g"},
"required":["id","t","g"],"properties":{"id":{"type":"string"},"t":{"type":"string","format":"date-time"},"g":{"type":"string"}%s}}`
	load := func(extra string) *schemas.Registry {
		reg, err := schemas.Load(fstest.MapFS{"thing.schema.json": {Data: []byte(fmt.Sprintf(v1, extra))}})
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	if err := s.MigrateSchemas(ctx, load("")); err != nil {
		t.Fatal(err)
	}
	if err := s.MigrateSchemas(ctx, load(`,"note":{"type":["string","null"]}`)); err != nil {
		t.Fatalf("additive optional field refused: %v", err)
	}
	var n int
	if err := s.DB().QueryRow("SELECT count(*) FROM duckdb_columns() WHERE table_name='things' AND column_name='note'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("column not added: %d %v", n, err)
	}
	if err := s.MigrateSchemas(ctx, load(`,"note":{"type":["integer","null"]}`)); err == nil {
		t.Fatal("type change accepted")
	}
	if err := s.MigrateSchemas(ctx, load("")); err == nil {
		t.Fatal("removed field accepted")
	}
}

func TestQueryIsReadOnly(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, q := range []string{
		"DELETE FROM areas",
		"SELECT 1; DROP TABLE areas",
		"CREATE TABLE x (a INT)",
		"COPY areas TO '/tmp/x.csv'",
		"",
	} {
		if _, err := s.Query(ctx, q, 10); !errors.Is(err, ErrNotReadOnly) {
			t.Errorf("%q: err = %v, want ErrNotReadOnly", q, err)
		}
	}
	// File access is disabled even from a SELECT.
	if _, err := s.Query(ctx, "SELECT * FROM read_csv('/etc/passwd')", 10); err == nil {
		t.Error("read_csv of a local file allowed")
	}
	res, err := s.Query(ctx, "SELECT 'a;b' AS s, 42 AS n -- trailing; comment\n;", 10)
	if err != nil || len(res.Rows) != 1 || res.Rows[0][0] != "a;b" {
		t.Fatalf("res %+v err %v", res, err)
	}
	res, err = s.Query(ctx, "SELECT * FROM range(100)", 10)
	if err != nil || len(res.Rows) != 10 || !res.Truncated {
		t.Fatalf("limit not applied: %+v %v", res, err)
	}
}

func TestKeyFilterHasNoFalseNegatives(t *testing.T) {
	f := newKeyFilter(10000)
	for i := range 10000 {
		f.add(fmt.Sprint("K", i))
	}
	fp := 0
	for i := range 10000 {
		if !f.mayContain(fmt.Sprint("K", i)) {
			t.Fatalf("false negative for K%d", i)
		}
		if f.mayContain(fmt.Sprint("N", i)) {
			fp++
		}
	}
	if fp > 300 { // ~1% expected at capacity
		t.Fatalf("%d false positives of 10000", fp)
	}
	if f.full() {
		t.Fatal("full at capacity")
	}
	f.add("one more")
	if !f.full() {
		t.Fatal("not full past capacity")
	}
}

// A filter that answers "maybe" for every key sends new keys through the
// ON CONFLICT path, which must insert them all the same.
func TestApplyWhenFilterSaysMaybe(t *testing.T) {
	ctx, s, ev := openEvents(t)
	t0 := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	if err := s.Apply(ctx, Batch{Tables: []TableRows{{ev, [][]any{eventRow(ev, "E1", "reported", t0)}}}}); err != nil {
		t.Fatal(err)
	}
	f := s.filters["grid_events"].f
	for i := range f.bits {
		f.bits[i] = ^uint64(0)
	}
	rows := [][]any{eventRow(ev, "E1", "closed", t0.Add(time.Hour)), eventRow(ev, "E2", "reported", t0), eventRow(ev, "E3", "reported", t0)}
	if err := s.Apply(ctx, Batch{Tables: []TableRows{{ev, rows}}}); err != nil {
		t.Fatal(err)
	}
	var n int
	var st string
	if err := s.DB().QueryRow("SELECT count(*), max(status) FILTER (WHERE event_id='E1') FROM grid_events").Scan(&n, &st); err != nil {
		t.Fatal(err)
	}
	if n != 3 || st != "closed" {
		t.Fatalf("rows %d, E1 %s", n, st)
	}
}

// Reopening builds the filter from the table: stored keys are updated, not
// appended again (which the primary key would refuse).
func TestFilterRebuiltOnReopen(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/r.duckdb"
	reg, _ := schemas.LoadEmbedded()
	ev, _ := reg.Get("grid_event")
	t0 := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	for i, status := range []string{"reported", "closed"} {
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.MigrateSchemas(ctx, reg); err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(ctx, Batch{Tables: []TableRows{{ev, [][]any{eventRow(ev, "E1", status, t0.Add(time.Duration(i)*time.Hour))}}}}); err != nil {
			t.Fatalf("apply after reopen: %v", err)
		}
		var st string
		if err := s.DB().QueryRow("SELECT status FROM grid_events").Scan(&st); err != nil || st != status {
			t.Fatalf("status %s %v", st, err)
		}
		_ = s.Close()
	}
}

func TestArrowSchemaMatchesTable(t *testing.T) {
	reg, _ := schemas.LoadEmbedded()
	h, _ := reg.Get("household")
	as := ArrowSchema(h)
	if as.NumFields() != len(h.TableColumns()) {
		t.Fatalf("%d fields, %d columns", as.NumFields(), len(h.TableColumns()))
	}
	want := map[string]string{"household_id": "utf8", "members_n": "int64", "tags": "list<item: utf8, nullable>", "updated_at": "timestamp[us, tz=UTC]", "needs_attention": "bool"}
	for _, f := range as.Fields() {
		if w, ok := want[f.Name]; ok && f.Type.String() != w {
			t.Errorf("%s: %s, want %s", f.Name, f.Type, w)
		}
		if f.Name == "head_id_number" || f.Name == "head_phone" {
			t.Errorf("personal field %s in the Arrow schema", f.Name)
		}
	}
	if f, _ := as.FieldsByName("household_id"); f[0].Nullable {
		t.Error("required key is nullable")
	}
}

// Two writers load at once; when both bring the same new key, the second
// commit conflicts and its retry in safe mode applies the newer version.
func TestConcurrentWriters(t *testing.T) {
	ctx, s, ev := openEvents(t)
	t0 := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	w1, w2 := s.NewWriter(), s.NewWriter()
	defer w1.Close()
	defer w2.Close()
	errs := make(chan error, 2)
	for wi, w := range []*Writer{w1, w2} {
		go func() {
			var rows [][]any
			for i := range 2000 {
				rows = append(rows, eventRow(ev, fmt.Sprintf("W%d-%d", wi, i), "reported", t0))
			}
			errs <- w.Apply(ctx, Batch{Tables: []TableRows{{ev, rows}}, Next: map[string]map[int]int64{"t": {wi: 2000}}})
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The same new key in two open transactions.
	c1, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if _, err := c1.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.ExecContext(ctx, "INSERT INTO grid_events SELECT * REPLACE ('SAME' AS event_id) FROM grid_events LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	err = w2.Apply(ctx, Batch{Tables: []TableRows{{ev, [][]any{eventRow(ev, "SAME", "closed", t0.Add(time.Hour))}}}})
	if err != nil {
		t.Fatalf("the writer committed first, so it must succeed: %v", err)
	}
	_, err = c1.ExecContext(ctx, "COMMIT")
	if err == nil {
		t.Fatal("want a conflict at the second commit")
	}
	var n int
	var st string
	if err := s.DB().QueryRow("SELECT count(*), max(status) FILTER (WHERE event_id='SAME') FROM grid_events").Scan(&n, &st); err != nil {
		t.Fatal(err)
	}
	if n != 4001 || st != "closed" {
		t.Fatalf("rows %d status %s", n, st)
	}
	// A writer that meets a stored key it believed new: conflict, then a
	// safe retry succeeds.
	if _, err := s.DB().Exec("INSERT INTO grid_events SELECT * REPLACE ('SNEAK' AS event_id) FROM grid_events LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	b := Batch{Tables: []TableRows{{ev, [][]any{eventRow(ev, "SNEAK", "closed", t0.Add(2*time.Hour))}}}}
	err = w1.Apply(ctx, b)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("direct append of a stored key: err = %v, want ErrConflict", err)
	}
	b.Safe = true
	if err := w1.Apply(ctx, b); err != nil {
		t.Fatalf("safe retry: %v", err)
	}
	if err := s.DB().QueryRow("SELECT status FROM grid_events WHERE event_id='SNEAK'").Scan(&st); err != nil || st != "closed" {
		t.Fatalf("SNEAK %s %v", st, err)
	}
}

// A writer keeps its appenders (a chunk of every column each) across large
// batches only: after a trickle's small batch it holds none, and the rows
// of both are stored.
func TestAppendersKeptForLargeBatchesOnly(t *testing.T) {
	ctx, s, ev := openEvents(t)
	t0 := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	batch := func(from, n int, next int64) Batch {
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = eventRow(ev, fmt.Sprintf("E%d", from+i), "reported", t0)
		}
		return Batch{Tables: []TableRows{{ev, rows}}, Next: map[string]map[int]int64{"t": {0: next}}}
	}
	w := s.NewWriter()
	defer func() { _ = w.Close() }()
	if err := w.Apply(ctx, batch(0, keepAppendersRows, keepAppendersRows)); err != nil {
		t.Fatal(err)
	}
	if len(w.apps) != 1 {
		t.Fatalf("after a batch of %d rows the writer holds %d appenders, want the table's", keepAppendersRows, len(w.apps))
	}
	if err := w.Apply(ctx, batch(keepAppendersRows, 3, keepAppendersRows+3)); err != nil {
		t.Fatal(err)
	}
	if len(w.apps) != 0 {
		t.Fatalf("after a batch of 3 rows the writer holds %d appenders, want none", len(w.apps))
	}
	var n int
	if err := s.DB().QueryRow("SELECT count(*) FROM grid_events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != keepAppendersRows+3 {
		t.Fatalf("grid_events holds %d rows, want %d", n, keepAppendersRows+3)
	}
}
