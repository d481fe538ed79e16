package queries

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/yiwang-gov/yiwang/internal/store"

	"github.com/yiwang-gov/yiwang/schemas"
)

func registry(t testing.TB) *schemas.Registry {
	t.Helper()
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// fewSchemas is a registry of the record types the golden tests name, so
// that a record type added later does not change their messages.
func fewSchemas(t testing.TB) *schemas.Registry {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, name := range []string{"grid_event", "door_visit", "household", "work_order"} {
		raw, err := fs.ReadFile(schemas.Embedded(), name+".schema.json")
		if err != nil {
			t.Fatal(err)
		}
		fsys[name+".schema.json"] = &fstest.MapFile{Data: raw}
	}
	reg, err := schemas.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestQueryFiles runs every query test file of the embedded catalog, as
// yiwang test queries does.
func TestQueryFiles(t *testing.T) {
	ctx := context.Background()
	if zone := os.Getenv("YIWANG_TEST_ZONE"); zone != "" {
		// A child of TestQueryFilesInServerZones: make sure DuckDB took
		// the process's zone, or the run proves nothing.
		st, err := store.Open(ctx, t.TempDir()+"/zone.duckdb", store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = st.DB().QueryRow("SELECT current_setting('TimeZone')").Scan(&got)
		_ = st.Close()
		if err != nil || got != zone {
			t.Fatalf("DuckDB session zone %q (%v), want %s", got, err, zone)
		}
	}
	c, err := LoadEmbedded(registry(t))
	if err != nil {
		t.Fatal(err)
	}
	results, err := TestFiles(ctx, c, Embedded(), EmbeddedDirs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		t.Run(r.Query+"/"+r.Case, func(t *testing.T) {
			if !r.Passed() {
				t.Error(r.String())
			}
		})
	}
}

// TestTestFilesProblems checks the messages for broken test files and a
// query without one.
func TestTestFilesProblems(t *testing.T) {
	ctx := context.Background()
	fsys := os.DirFS("testdata/testfiles")
	c, err := Load(fsys, "bad", fewSchemas(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = TestFiles(ctx, c, fsys, "bad")
	if err == nil {
		t.Fatal("accepted")
	}
	golden(t, "testdata/testfiles/bad.golden", err.Error()+"\n")
}

// TestTestFilesFailures checks how a failing case is reported, and that
// a case may bring its own hierarchy.
func TestTestFilesFailures(t *testing.T) {
	ctx := context.Background()
	fsys := os.DirFS("testdata/testfiles")
	c, err := Load(fsys, "fail", registry(t))
	if err != nil {
		t.Fatal(err)
	}
	results, err := TestFiles(ctx, c, fsys, "fail")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range results {
		b.WriteString(r.String() + "\n")
	}
	golden(t, "testdata/testfiles/fail.golden", b.String())
}

// FuzzTestFile: the test-file parser never panics, whatever the file, for
// an indicator with detectors, a plain indicator and a rule; what it
// refuses carries a line.
func FuzzTestFile(f *testing.F) {
	for _, pattern := range []string{"indicators/*_test.yaml", "rules/*_test.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			raw, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(raw, uint8(len(file)))
		}
	}
	reg := registry(f)
	c, err := LoadEmbedded(reg)
	if err != nil {
		f.Fatal(err)
	}
	var qs []*Query
	for _, name := range []string{"police_incidents_daily", "event_closure_rate", "instant_closures"} {
		q, ok := c.Get(name)
		if !ok {
			f.Fatalf("no query %s", name)
		}
		qs = append(qs, q)
	}
	f.Fuzz(func(t *testing.T, raw []byte, which uint8) {
		q := qs[int(which)%len(qs)]
		_, probs := parseTestFile(q.Name+"_test.yaml", raw, q, reg)
		for _, p := range probs {
			if p.Line < 1 && p.Msg == "" {
				t.Fatalf("a problem without a place or a message: %+v", p)
			}
		}
	})
}
