package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/connectors/filedrop"
	"github.com/yiwang-gov/yiwang/internal/api"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/queries"
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

// reportsFrom serves one file-drop source's reports from a drop folder.
type reportsFrom struct{ source, dir string }

func (r reportsFrom) Reports(_ context.Context, source string) ([]api.FileReport, error) {
	if source != "" && source != r.source {
		return nil, fmt.Errorf("no file-drop source %q", source)
	}
	reps, err := filedrop.NewReportCache(r.dir).Summaries()
	var out []api.FileReport
	for _, rep := range reps {
		out = append(out, api.FileReport{Source: r.source, Report: rep})
	}
	return out, err
}

func (r reportsFrom) Report(_ context.Context, source, file string) (api.FileReport, bool, error) {
	rep, ok, err := filedrop.NewReportCache(r.dir).Report(file)
	return api.FileReport{Source: r.source, Report: rep}, ok, err
}

// adminServer serves c with an admin token that the commands run by the
// test read from $YIWANG_ADMIN_TOKEN.
func adminServer(t *testing.T, c api.Config) *httptest.Server {
	t.Setenv("YIWANG_ADMIN_TOKEN", "cli-test-token")
	c.Metrics, c.AdminToken = metrics.New(), "cli-test-token"
	srv := httptest.NewServer(api.New(c))
	t.Cleanup(srv.Close)
	return srv
}

// TestFilesCommands prints the golden report of the file connector's tests
// through the API, as a data clerk sees it.
func TestFilesCommands(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, filedrop.DoneDir), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../connectors/filedrop/testdata/ledger.csv.report.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filedrop.DoneDir, "ledger.csv"+filedrop.ReportSuffix), b, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := adminServer(t, api.Config{Files: reportsFrom{"ledger.door_visit", dir}})

	out, err := run(t, "files", "list", "--server", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ledger.door_visit", "ledger.csv", "loaded", "done/ledger.csv", "1 file(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("files list lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, "files", "show", "ledger.csv", "--server", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"7 read, 3 loaded, 4 rejected", "5 网格编码 bad_area_code must have 15 digits", `6 走访结果 schema_violation unknown label "已拒访"`, "9 网格编码 unknown_area"} {
		if !strings.Contains(words, want) {
			t.Errorf("files show lacks %q:\n%s", want, out)
		}
	}
	if _, err := run(t, "files", "show", "nope.csv", "--server", srv.URL); err == nil || !strings.Contains(err.Error(), "no finished file") {
		t.Errorf("unknown file: %v", err)
	}
}

// countingRuns answers every indicator run with one period per indicator.
type countingRuns struct{ calls []string }

func (c *countingRuns) Run(_ context.Context, names []string, from, to time.Time) (map[string]queries.Result, error) {
	out := map[string]queries.Result{}
	for _, n := range names {
		c.calls = append(c.calls, n)
		out[n] = queries.Result{Periods: 2, Inserted: 7}
	}
	return out, nil
}

// TestIndicatorsRunProgress: `indicators run` asks for one indicator at a
// time, says how far it got, and sums up per indicator.
func TestIndicatorsRunProgress(t *testing.T) {
	runs := &countingRuns{}
	srv := adminServer(t, api.Config{Indicators: runs})
	out, err := run(t, "indicators", "run", "--select", "event_closure_rate,door_knock_coverage", "--from", "2026-01-01", "--to", "2026-03-01", "--server", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(runs.calls) != "[event_closure_rate door_knock_coverage]" {
		t.Fatalf("calls: %v", runs.calls)
	}
	words := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"[1/2] event_closure_rate", "[2/2] door_knock_coverage", "event_closure_rate 2 7 0 0 0", "door_knock_coverage 2 7 0 0 0", "2 indicator(s) in"} {
		if !strings.Contains(words, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestHistoryRange(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f, to, err := historyRange("2025-01-01", "2026-11-30", now)
	if err != nil || f.UTC().Format(time.RFC3339) != "2024-12-31T16:00:00Z" || !to.Equal(now) {
		t.Fatalf("%v %v %v: want from 2025-01-01 00:00 Shanghai, to capped at now", f, to, err)
	}
	if _, to, _ := historyRange("2025-01-01", "2025-02-01", now); to.UTC().Format(time.RFC3339) != "2025-01-31T16:00:00Z" {
		t.Fatalf("to %v", to)
	}
	for _, bad := range [][2]string{{"", "2026-01-01"}, {"2025-13-01", ""}, {"2025-01-01", "1/2/2025"}, {"2026-11-27", ""}} {
		if _, _, err := historyRange(bad[0], bad[1], now); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestIndicatorsRunRefresh(t *testing.T) {
	runs := &countingRuns{}
	srv := adminServer(t, api.Config{Indicators: runs})
	if _, err := run(t, "indicators", "run", "--refresh", "--from", "2026-01-01", "--server", srv.URL); err == nil {
		t.Fatal("--refresh with --from accepted")
	}
	if _, err := run(t, "indicators", "run", "--from", "2026-01-01", "--server", srv.URL); err == nil {
		t.Fatal("--from without --to accepted")
	}
	out, err := run(t, "indicators", "run", "--refresh", "--server", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs.calls) != len(cat.Queries()) || !strings.Contains(out, fmt.Sprintf("%d indicator(s) in", len(runs.calls))) {
		t.Fatalf("refresh ran %v:\n%s", runs.calls, out)
	}
}

// TestIndicatorsShow: `indicators show` reads an indicator's cells through
// the API with the admin token, as the CLI finds it.
func TestIndicatorsShow(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "a.duckdb"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	areas, units := queries.TestHierarchy()
	if err := st.ReplaceReference(ctx, areas, units); err != nil {
		t.Fatal(err)
	}
	if err := queries.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`INSERT INTO indicator_values VALUES ('event_closure_rate', 'street', '220173002', TIMESTAMPTZ '2026-11-01 00:00:00+08',
  TIMESTAMPTZ '2026-12-01 00:00:00+08', 87, 100, 87, false, 'r1', now(), now(), 1)`); err != nil {
		t.Fatal(err)
	}
	srv := adminServer(t, api.Config{Store: st})
	out, err := run(t, "indicators", "show", "event_closure_rate", "--area", "220173002", "--server", srv.URL)
	if err != nil || !strings.Contains(out, "220173002") || !strings.Contains(out, "87") {
		t.Fatalf("%v\n%s", err, out)
	}
}
