package calendar

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestLoadGolden loads every testdata/load/*.csv. A file named *.ok.csv must
// load; any other must fail with exactly the error in its .golden file.
func TestLoadGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/load/*.csv")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			days, err := Load(bytes.NewReader(data), filepath.Base(file))
			if strings.HasSuffix(file, ".ok.csv") {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if len(days) == 0 {
					t.Fatal("Load returned no days")
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted %s", file)
			}
			if days != nil {
				t.Errorf("Load returned %d days with an error", len(days))
			}
			golden := strings.TrimSuffix(file, ".csv") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run go test -update to create it)", rerr)
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestLoadMessages pins the wording of the four problems users meet most.
func TestLoadMessages(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"bad header", "date,type,holiday\n2026-01-01,off,元旦\n",
			`x.csv:1: header is "date,type,holiday"; the first line must be exactly "date,kind,holiday"`},
		{"bad date", "date,kind,holiday\n2026-02-30,off,春节\n",
			`x.csv:2: date "2026-02-30" is not a calendar date; write it as YYYY-MM-DD, e.g. 2026-10-01`},
		{"bad kind", "date,kind,holiday\n2026-10-01,holiday,国庆节\n",
			`x.csv:2: kind "holiday" is unknown; use off (a holiday) or work (a weekend day that is a working day)`},
		{"duplicate", "date,kind,holiday\n2026-10-01,off,国庆节\n2026-10-02,off,国庆节\n2026-10-01,off,国庆节\n",
			`x.csv:4: date 2026-10-01 is already given on line 2; keep one of the two lines`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tc.in), "x.csv")
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestLoadFields(t *testing.T) {
	days, err := Load(strings.NewReader("date,kind,holiday\n2026-02-14,work,春节\n2026-02-15,off,春节\n"), "x.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []Day{
		{Date: Date{2026, time.February, 14}, Kind: MakeUpWorkday, Holiday: "春节", Source: "x.csv:2"},
		{Date: Date{2026, time.February, 15}, Kind: Holiday, Holiday: "春节", Source: "x.csv:3"},
	}
	if len(days) != len(want) {
		t.Fatalf("got %d days, want %d", len(days), len(want))
	}
	for i := range want {
		if days[i] != want[i] {
			t.Errorf("day %d = %+v, want %+v", i, days[i], want[i])
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, os.ErrClosed }

func TestLoadReadError(t *testing.T) {
	_, err := Load(failingReader{}, "x.csv")
	if err == nil || !strings.HasPrefix(err.Error(), "read file x.csv: ") {
		t.Fatalf("error %v, want read file x.csv: ...", err)
	}
}

// TestWriteRoundTrip writes the official days and reads them back.
func TestWriteRoundTrip(t *testing.T) {
	c := mustOfficial(t)
	var buf bytes.Buffer
	if err := Write(&buf, c.Days()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), officialCSV) {
		t.Error("writing the official days does not give back the embedded file byte for byte")
	}
	days, err := Load(&buf, "again.csv")
	if err != nil {
		t.Fatal(err)
	}
	if !sameDays(days, c.Days()) {
		t.Error("round trip changed the days")
	}
}

func TestWriteRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		days []Day
		want string
	}{
		{"no such date", []Day{{Date: Date{2026, 2, 30}, Kind: Holiday, Holiday: "春节"}},
			"day 0 (2026-02-30): date 2026-02-30 does not exist; give a real day"},
		{"ordinary kind", []Day{{Date: Date{2026, 3, 2}, Kind: Workday, Holiday: "x"}},
			"day 0 (2026-03-02): kind workday; an exceptional day is a holiday (off) or a makeup_workday (work)"},
		{"comma in name", []Day{{Date: Date{2026, 3, 2}, Kind: Holiday, Holiday: "a,b"}},
			`day 0 (2026-03-02): holiday "a,b" contains a comma; use 、 to join names`},
		{"twice", []Day{{Date: Date{2026, 3, 2}, Kind: Holiday, Holiday: "a"}, {Date: Date{2026, 3, 2}, Kind: Holiday, Holiday: "a", Source: "y.csv:9"}},
			"y.csv:9: date 2026-03-02 is also given by day 0 (2026-03-02); keep one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, tc.days)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v\nwant  %s", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %q despite the error", buf.String())
			}
		})
	}
}

// sameDays compares days ignoring where they were read.
func sameDays(a, b []Day) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		x.Source, y.Source = "", ""
		if x != y {
			return false
		}
	}
	return true
}
