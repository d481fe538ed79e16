package filedrop

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHiddenFilesGetAReport: a file whose name starts with "." is never
// read (rsync and editors write under such names), but one that stays
// unchanged past stable_for plus HiddenGrace is refused with a report
// saying why, instead of waiting forever without one. A file the pattern
// does not match is not this source's: it stays where it is.
func TestHiddenFilesGetAReport(t *testing.T) {
	sc := schema(t, "door_visit")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".台账.csv"), csvBytes(ledger(3, false)))
	writeFile(t, filepath.Join(dir, "notes.txt.bak"), []byte("not a ledger"))
	src, clk := newSource(t, doorConfig(dir), sc)
	poll := func() {
		t.Helper()
		if recs, _, err := src.Poll(context.Background(), ""); err != nil || len(recs) > 0 {
			t.Fatalf("poll: %d records, %v", len(recs), err)
		}
	}
	poll()
	clk.t = clk.t.Add(src.cfg.StableFor + time.Second)
	poll()
	if _, err := os.Stat(filepath.Join(dir, ".台账.csv")); err != nil {
		t.Fatalf("refused before its grace: %v", err)
	}
	clk.t = clk.t.Add(HiddenGrace)
	poll()
	rep := readReport(t, filepath.Join(dir, FailedDir, ".台账.csv"+ReportSuffix))
	if rep.Status != StatusRefused || !strings.Contains(rep.Error, "names starting with . are taken as files still being written") ||
		!strings.Contains(rep.Error, "rename it without the leading dot") {
		t.Fatalf("report: %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt.bak")); err != nil {
		t.Fatalf("a file not matching the pattern was touched: %v", err)
	}
}

// TestLinkedStateFolders: failed/ (or done/, .yiwang/) replaced by a
// symbolic link stops the source with an error naming the folder and what
// to do, rather than one about a path escaping; once a real folder is back
// the source goes on.
func TestLinkedStateFolders(t *testing.T) {
	sc := schema(t, "door_visit")
	for _, d := range []string{FailedDir, DoneDir, StateDir} {
		t.Run(d, func(t *testing.T) {
			dir := t.TempDir()
			src, _ := newSource(t, doorConfig(dir), sc)
			drive(t, src, sc, "", 1) // makes the folders
			if err := os.Remove(filepath.Join(dir, d)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(t.TempDir(), filepath.Join(dir, d)); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "l.csv"), csvBytes(ledger(3, false)))
			_, _, err := src.Poll(context.Background(), "")
			want := d + "/ in the drop folder is a symbolic link, not a folder"
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "remove the link and make a folder "+d) {
				t.Fatalf("poll: %v", err)
			}
			if _, err := Reports(dir); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Reports: %v", err)
			}
			if err := os.Remove(filepath.Join(dir, d)); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
			if res := drive(t, src, sc, "", 2); res.records != 3 {
				t.Fatalf("after the fix: %d records", res.records)
			}
		})
	}
}
