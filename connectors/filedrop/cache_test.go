package filedrop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Finding 8: GET /api/v1/files re-read every report on each call (one 86
// MB report made limit=5 take 0.72 s). The cache reads a report once and
// again only when its size or modification time changed.
func TestReportCacheReadsAReportOnce(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, DoneDir), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, DoneDir, "a.csv"+ReportSuffix)
	rows := strings.Repeat(`{"row": 2, "reason": "schema_violation", "message": "bad"},`, 20000)
	good := `{"file": "a.csv", "stored_as": "done/a.csv", "status": "loaded", "rows": 20001, "rejected": 20001, "rejected_rows": [` + rows + `{"row": 3, "reason": "x", "message": "y"}]}`
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	c := NewReportCache(dir)
	sums, err := c.Summaries()
	if err != nil || len(sums) != 1 || sums[0].Rejected != 20001 || sums[0].RejectedRows != nil {
		t.Fatalf("summaries: %v %+v", err, sums)
	}
	// Same size and time, other content: the cache does not read it again.
	fi, _ := os.Stat(path)
	bad := strings.Repeat("x", len(good))
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if sums, err = c.Summaries(); err != nil || len(sums) != 1 || sums[0].Rejected != 20001 {
		t.Fatalf("an unchanged report was read again: %v %+v", err, sums)
	}
	// A changed time: read again (and here found broken).
	later := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if _, err = c.Summaries(); err == nil || !strings.Contains(err.Error(), "decode report") {
		t.Fatalf("a changed report was not read again: %v", err)
	}
	// The whole report, rejected rows included, for one file.
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, ok, err := c.Report("a.csv")
	if err != nil || !ok || len(rep.RejectedRows) != 20001 {
		t.Fatalf("report: %v %v %d rows", err, ok, len(rep.RejectedRows))
	}
	if _, ok, _ := c.Report("b.csv"); ok {
		t.Error("a file never dropped has a report")
	}
	// A report gone is gone from the cache.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if sums, err = c.Summaries(); err != nil || len(sums) != 0 || len(c.entries) != 0 {
		t.Fatalf("after removal: %v %+v %d cached", err, sums, len(c.entries))
	}
}
