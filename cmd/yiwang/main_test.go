package main

import (
	"bytes"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// `yiwang check` prints every problem and fails; on the demo pipeline it
// passes.
func TestCheckCommand(t *testing.T) {
	out, err := run(t, "check", "-c", "../../pipelines/newarea.yaml")
	if err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("demo pipeline: %v\n%s", err, out)
	}
	out, err = run(t, "check", "-c", "../../pipelines/testdata/values.bad.yaml")
	if err == nil {
		t.Fatal("broken pipeline accepted")
	}
	for _, want := range []string{"values.bad.yaml:13:12: sources[0].every: must be > 0", "values.bad.yaml:18:11: sources[1].type: unknown connector type"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	out, err = run(t, "check", "-c", "../../pipelines/newarea.yaml", "--schemas", "../../schemas/testdata")
	if err == nil || !strings.Contains(out, "bad_table.schema.json") {
		t.Fatalf("broken schema folder: %v\n%s", err, out)
	}
}

// `yiwang sql` opens the file directly when no server answers.
func TestSQLWithoutServer(t *testing.T) {
	dir := t.TempDir()
	if _, err := run(t, "sql", "--server", "http://127.0.0.1:1", "--data", dir, "select 1"); err == nil {
		t.Fatal("no database file, no server: want an error")
	}
}

// `yiwang test queries` runs the query tests; `indicators list` lists them.
func TestQueriesCommands(t *testing.T) {
	out, err := run(t, "test", "queries")
	if err != nil || !strings.Contains(out, "query test case(s) passed") {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err = run(t, "indicators", "list")
	if err != nil || !strings.Contains(out, "event_ontime_closure_rate") || !strings.Contains(out, "事件按期办结率") {
		t.Fatalf("%v\n%s", err, out)
	}
}
