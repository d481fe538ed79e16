package filedrop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/schemas"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

type areaSet map[string]bool

func (a areaSet) Known(code string) bool { return a[code] }

// areas knows the one community the test ledgers' grids lie in.
var areas = areaSet{"220173002001": true}

func schema(t testing.TB, name string) *schemas.Schema {
	t.Helper()
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	s, ok := reg.Get(name)
	if !ok {
		t.Fatalf("no schema %s", name)
	}
	return s
}

// doorConfig is the mapping of the test ledgers, the same as sample.yaml's.
func doorConfig(dir string) Config {
	return Config{
		Dir:       dir,
		HeaderRow: 2,
		Columns: map[string]string{"网格编码": "grid_code", "对象类型": "target_type", "对象编号": "target_id", "走访人身份": "visitor_role",
			"走访时间": "visited_at", "走访结果": "outcome", "经度": "lon", "纬度": "lat", "更新事项": "fields_updated"},
		Values: map[string]map[string]string{
			"outcome":      {"已见面": "met", "不在家": "not_home", "拒绝": "refused", "空置": "vacant", "已搬离": "moved"},
			"target_type":  {"住户": "household", "门店": "store", "楼栋": "building", "重点人员": "key_person"},
			"visitor_role": {"社区工作者": "community_worker", "三长": "three_heads", "民警": "police", "物业": "property"},
		},
		Types: map[string]FieldType{
			"visited_at":     {Type: TypeTime, Layout: Layouts{"2006-01-02 15:04", "2006/1/2 15:04", LayoutExcel}, Timezone: "Asia/Shanghai"},
			"fields_updated": {Type: TypeList},
		},
		Defaults: map[string]any{"campaign_id": "2026H2", "visitor_role": "community_worker"},
		ID:       IDRule{Template: "{grid_code}-{target_id}-{visited_at}", Hash: true},
	}
}

// clock is a fake clock the tests move on.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newSource(t testing.TB, cfg Config, s *schemas.Schema) (*Source, *clock) {
	t.Helper()
	src, err := New(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	src.Now = c.now
	return src, c
}

// result is what the test runner saw.
type result struct {
	records  int
	produced map[int]map[string]any // by row
	rejected map[int]*schemas.RecordError
	files    map[string]int // records per file name
	cursor   string
}

// drive plays the runner's part: poll, validate each record as the runner
// does, report the outcome, move the cursor; a poll with nothing moves the
// clock past stable_for. It stops after idle empty polls in a row.
func drive(t testing.TB, src *Source, sc *schemas.Schema, cursor string, idle int) *result {
	t.Helper()
	res := &result{produced: map[int]map[string]any{}, rejected: map[int]*schemas.RecordError{}, files: map[string]int{}, cursor: cursor}
	c := src.Now
	empty := 0
	for range 1_000_000 {
		recs, more, err := src.Poll(context.Background(), res.cursor)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			if empty++; empty > idle {
				return res
			}
			now := c().Add(src.cfg.StableFor + time.Second)
			src.Now = func() time.Time { return now }
			c = src.Now
			continue
		}
		empty = 0
		for _, r := range recs {
			res.records++
			name, row := splitPosition(t, r.Position)
			res.files[name]++
			obj, err := schemas.Decode(r.Raw)
			if err == nil {
				err = sc.Validate(obj, areas, time.Now())
			}
			if r.Refused != nil { // as the runner: refused without validation
				obj, err = nil, r.Refused
			}
			src.Outcome(r, err)
			var re *schemas.RecordError
			if errors.As(err, &re) {
				res.rejected[row] = re
			} else if err == nil {
				res.produced[row] = obj
			} else {
				t.Fatalf("row %d: %v", row, err)
			}
		}
		res.cursor = recs[len(recs)-1].Cursor
		_ = more
	}
	t.Fatal("no end")
	return nil
}

func splitPosition(t testing.TB, pos string) (string, int) {
	t.Helper()
	name, row, ok := strings.Cut(strings.TrimPrefix(pos, "file:"), "#row=")
	n, err := strconv.Atoi(row)
	if !ok || err != nil || !strings.HasPrefix(pos, "file:") {
		t.Fatalf("position %q is not file:<name>#row=<n>", pos)
	}
	return name, n
}

// The ledgers: a title row, the header row, then data rows. Every 50th row
// is bad, in turn a bad grid code, an unknown outcome label, a bad time.
var ledgerHeader = []string{"序号", "网格编码", "对象类型", "对象编号", "走访人身份", "走访时间", "走访结果", "经度", "纬度", "更新事项", "备注"}

const (
	badGrid = iota
	badLabel
	badTime
)

type ledgerRow struct {
	cells   []any
	bad     int // -1: good
	visited time.Time
}

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

func ledger(n int, serialDates bool) []ledgerRow {
	out := make([]ledgerRow, n)
	for i := range n {
		out[i] = ledgerRowAt(i, serialDates)
	}
	return out
}

var (
	labels  = []string{"已见面", "不在家", "拒绝", "空置", "已搬离"}
	targets = []string{"住户", "门店", "楼栋"}
	base    = time.Date(2026, 11, 26, 8, 0, 0, 0, shanghai)
)

// ledgerRowAt is the data row i of a test ledger (row i+3 of the file).
func ledgerRowAt(i int, serialDates bool) ledgerRow {
	at := base.Add(time.Duration(i) * time.Minute)
	var when any = at.Format("2006-01-02 15:04")
	if i%2 == 1 {
		when = at.Format("2006/1/2 15:04")
	}
	if serialDates && i%7 == 3 {
		when = excelSerial(at)
	}
	r := ledgerRow{bad: -1, visited: at, cells: []any{
		strconv.Itoa(i + 1), fmt.Sprintf("220173002001%03d", 1+i%40), targets[i%3], fmt.Sprintf("T%06d", i),
		"", when, labels[i%5], "125.3" + strconv.Itoa(i%10), "43.8" + strconv.Itoa(i%10), "人口、车辆", "备注" + strconv.Itoa(i),
	}}
	if i%4 == 0 {
		r.cells[4] = "三长"
	}
	if i%50 == 49 {
		r.bad = (i / 50) % 3
		switch r.bad {
		case badGrid:
			r.cells[1] = "22017300200100"
		case badLabel:
			r.cells[6] = "已拒访"
		case badTime:
			r.cells[5] = "2026/13/45 25:00"
		}
	}
	return r
}

func excelSerial(t time.Time) float64 {
	wall := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
	return wall.Sub(time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)).Hours() / 24
}

func cellText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func writeXLSX(t testing.TB, path string, rows []ledgerRow) {
	t.Helper()
	f := excelize.NewFile()
	defer func() { _ = f.Close() }()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.SetRow("A1", []any{"某某社区敲门行动台账（2026年下半年）"}); err != nil {
		t.Fatal(err)
	}
	head := make([]any, len(ledgerHeader))
	for i, h := range ledgerHeader {
		head[i] = h
	}
	if err := sw.SetRow("A2", head); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+3)
		if err := sw.SetRow(cell, r.cells); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

func csvBytes(rows []ledgerRow) []byte {
	var b bytes.Buffer
	writeCSVHead(&b)
	for _, r := range rows {
		writeCSVRow(&b, r)
	}
	return b.Bytes()
}

func writeCSVHead(b io.Writer) {
	_, _ = io.WriteString(b, "某某社区敲门行动台账,,,\r\n"+strings.Join(ledgerHeader, ",")+"\r\n")
}

func writeCSVRow(b io.Writer, r ledgerRow) {
	var line []byte
	for i, c := range r.cells {
		if i > 0 {
			line = append(line, ',')
		}
		s := cellText(c)
		if strings.ContainsAny(s, ",\"\n") {
			s = `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
		}
		line = append(line, s...)
	}
	line = append(line, '\r', '\n')
	_, _ = b.Write(line)
}

func gbk(t testing.TB, b []byte) []byte {
	t.Helper()
	out, err := simplifiedchinese.GBK.NewEncoder().Bytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readReport(t testing.TB, path string) Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// checkLedger compares what the runner saw and the report with the ledger.
func checkLedger(t *testing.T, dir, name string, rows []ledgerRow, res *result) {
	t.Helper()
	good, bad := 0, 0
	for i, r := range rows {
		row := i + 3
		if r.bad < 0 {
			good++
			obj, ok := res.produced[row]
			if !ok {
				t.Fatalf("row %d (good) not produced: %v", row, res.rejected[row])
			}
			if got, want := obj["visited_at"], r.visited.Format(time.RFC3339); got != want {
				t.Errorf("row %d visited_at = %v, want %s", row, got, want)
			}
			if obj["campaign_id"] != "2026H2" || obj["grid_code"] != cellText(r.cells[1]) || len(obj["visit_id"].(string)) != 32 {
				t.Errorf("row %d = %v", row, obj)
			}
			continue
		}
		bad++
		re, ok := res.rejected[row]
		if !ok {
			t.Fatalf("row %d (bad kind %d) not rejected", row, r.bad)
		}
		want := map[int]string{badGrid: "grid_code", badLabel: "outcome", badTime: "visited_at"}[r.bad]
		if re.Field != want {
			t.Errorf("row %d rejected on %q (%s), want %s", row, re.Field, re.Msg, want)
		}
	}
	if len(res.produced) != good || len(res.rejected) != bad {
		t.Fatalf("produced %d rejected %d, want %d and %d", len(res.produced), len(res.rejected), good, bad)
	}
	rep := readReport(t, filepath.Join(dir, DoneDir, name+ReportSuffix))
	if rep.Status != StatusLoaded || rep.Rows != len(rows) || rep.Produced != good || rep.Rejected != bad || len(rep.RejectedRows) != bad {
		t.Fatalf("report: status %s rows %d produced %d rejected %d (%d listed); want %d, %d, %d",
			rep.Status, rep.Rows, rep.Produced, rep.Rejected, len(rep.RejectedRows), len(rows), good, bad)
	}
	for _, rj := range rep.RejectedRows {
		r := rows[rj.Row-3]
		wantReason, wantMsg, wantCol := map[int]string{badGrid: schemas.ReasonAreaCode, badLabel: schemas.ReasonSchema, badTime: schemas.ReasonSchema}[r.bad],
			map[int]string{badGrid: "must have 15 digits", badLabel: `unknown label "已拒访"; known: 不在家, 已搬离`, badTime: `"2026/13/45 25:00" is not a time written like 2026-11-26 08:30, 2026/11/26 08:30, an Excel date cell`}[r.bad],
			map[int]string{badGrid: "网格编码", badLabel: "走访结果", badTime: "走访时间"}[r.bad]
		if rj.Reason != wantReason || !strings.Contains(rj.Message, wantMsg) || rj.Column != wantCol {
			t.Errorf("report row %d: %+v; want reason %s, column %s, message with %q", rj.Row, rj, wantReason, wantCol, wantMsg)
		}
	}
	if !slices.Equal(rep.IgnoredColumns, []string{"序号", "备注"}) {
		t.Errorf("ignored columns %q", rep.IgnoredColumns)
	}
	if _, err := os.Stat(filepath.Join(dir, DoneDir, name)); err != nil {
		t.Errorf("file not in done/: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
		t.Errorf("file still in the drop folder: %v", err)
	}
}

func TestDoorKnockingLedgers(t *testing.T) {
	sc := schema(t, "door_visit")
	cases := []struct {
		name  string
		file  string
		write func(t *testing.T, path string, rows []ledgerRow)
		enc   string // the encoding the report must name
	}{
		{"xlsx", "台账.xlsx", func(t *testing.T, p string, rows []ledgerRow) { writeXLSX(t, p, rows) }, ""},
		{"csv utf-8", "台账.csv", func(t *testing.T, p string, rows []ledgerRow) { writeFile(t, p, csvBytes(rows)) }, EncodingUTF8},
		{"csv utf-8 with BOM", "台账.csv", func(t *testing.T, p string, rows []ledgerRow) {
			writeFile(t, p, append([]byte("\ufeff"), csvBytes(rows)...))
		}, encodingUTF8BOM},
		{"csv gbk", "台账.CSV", func(t *testing.T, p string, rows []ledgerRow) { writeFile(t, p, gbk(t, csvBytes(rows))) }, EncodingGB18030},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rows := ledger(600, tc.name == "xlsx")
			tc.write(t, filepath.Join(dir, tc.file), rows)
			src, _ := newSource(t, doorConfig(dir), sc)
			res := drive(t, src, sc, "", 2)
			checkLedger(t, dir, tc.file, rows, res)
			rep := readReport(t, filepath.Join(dir, DoneDir, tc.file+ReportSuffix))
			if rep.Encoding != tc.enc {
				t.Errorf("encoding %q, want %q", rep.Encoding, tc.enc)
			}
		})
	}
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, b)
}

// TestLedger50k is acceptance item 1: a 50,000-row XLSX door-knocking
// ledger with Chinese headers and 2% bad rows loads, the bad rows are
// rejected with row numbers and reasons, and dropping the same file again
// (under another name) produces nothing.
func TestLedger50k(t *testing.T) {
	n := 50_000
	if testing.Short() {
		n = 5_000
	}
	sc := schema(t, "door_visit")
	dir := t.TempDir()
	rows := ledger(n, true)
	writeXLSX(t, filepath.Join(dir, "敲门行动台账.xlsx"), rows)
	src, _ := newSource(t, doorConfig(dir), sc)
	res := drive(t, src, sc, "", 2)
	checkLedger(t, dir, "敲门行动台账.xlsx", rows, res)
	if len(res.rejected) != n/50 {
		t.Errorf("rejected %d, want 2%% = %d", len(res.rejected), n/50)
	}

	copyFile(t, filepath.Join(dir, DoneDir, "敲门行动台账.xlsx"), filepath.Join(dir, "敲门行动台账(1).xlsx"))
	again := drive(t, src, sc, res.cursor, 2)
	if again.records != 0 {
		t.Fatalf("the same content again produced %d records", again.records)
	}
	dup := readReport(t, filepath.Join(dir, DoneDir, "敲门行动台账(1).xlsx"+ReportSuffix))
	if dup.Status != StatusDuplicate || dup.DuplicateOf != "敲门行动台账.xlsx" || !strings.Contains(dup.Message, "already loaded as 敲门行动台账.xlsx at ") {
		t.Fatalf("duplicate report: %+v", dup)
	}
	// A new Source (a restarted connector) knows it too: the index is in
	// the folder.
	copyFile(t, filepath.Join(dir, DoneDir, "敲门行动台账.xlsx"), filepath.Join(dir, "敲门行动台账.xlsx"))
	src2, _ := newSource(t, doorConfig(dir), sc)
	if again := drive(t, src2, sc, "", 2); again.records != 0 {
		t.Fatalf("after a restart the same content produced %d records", again.records)
	}
	if r := readReport(t, filepath.Join(dir, DoneDir, "敲门行动台账.2.xlsx"+ReportSuffix)); r.Status != StatusDuplicate {
		t.Fatalf("second duplicate: %+v", r)
	}
	reps, err := Reports(dir)
	if err != nil || len(reps) != 3 {
		t.Fatalf("Reports: %d, %v", len(reps), err)
	}
}

func TestGrowingFileIsNotReadUntilComplete(t *testing.T) {
	sc := schema(t, "door_visit")
	rows := ledger(40, false)
	full := csvBytes(rows)
	cases := []struct {
		name   string
		marker string
	}{
		{"stable size and mtime", ""},
		{"marker file", ".done"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := doorConfig(dir)
			cfg.Marker = tc.marker
			src, clk := newSource(t, cfg, sc)
			p := filepath.Join(dir, "growing.csv")
			mtime := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
			for i := 1; i <= 5; i++ { // the file grows between polls, each poll much later than stable_for
				writeFile(t, p, full[:len(full)*i/6])
				mtime = mtime.Add(time.Second)
				_ = os.Chtimes(p, mtime, mtime)
				clk.t = clk.t.Add(time.Minute)
				recs, _, err := src.Poll(context.Background(), "")
				if err != nil || len(recs) > 0 {
					t.Fatalf("growing file read: %d records, %v", len(recs), err)
				}
			}
			writeFile(t, p, full)
			if tc.marker != "" {
				clk.t = clk.t.Add(time.Hour)
				if recs, _, _ := src.Poll(context.Background(), ""); len(recs) > 0 {
					t.Fatal("read without its marker")
				}
				writeFile(t, p+tc.marker, nil)
			}
			res := drive(t, src, sc, "", 2)
			if res.records != len(rows) {
				t.Fatalf("read %d records, want %d", res.records, len(rows))
			}
			if _, err := os.Stat(p + tc.marker); tc.marker != "" && !os.IsNotExist(err) {
				t.Errorf("marker left behind: %v", err)
			}
		})
	}
}

func TestNothingOutsideTheFolderIsRead(t *testing.T) {
	sc := schema(t, "door_visit")
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.csv")
	writeFile(t, secret, csvBytes(ledger(3, false)))
	dir := t.TempDir()
	inside := filepath.Join(dir, "sub")
	if err := os.Mkdir(inside, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(inside, "nested.csv"), csvBytes(ledger(3, false)))
	for name, target := range map[string]string{
		"escape.csv":   secret,
		"relative.csv": "../" + filepath.Base(outside) + "/secret.csv",
		"inner.csv":    filepath.Join(inside, "nested.csv"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	src, _ := newSource(t, doorConfig(dir), sc)
	if res := drive(t, src, sc, "", 2); res.records != 0 {
		t.Fatalf("read %d records through links or from a subfolder", res.records)
	}
	for _, name := range []string{"escape.csv", "relative.csv", "inner.csv"} {
		fi, err := os.Lstat(filepath.Join(dir, FailedDir, name))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s not moved to failed/ as a link: %v", name, err)
		}
		rep := readReport(t, filepath.Join(dir, FailedDir, name+ReportSuffix))
		if rep.Status != StatusRefused || !strings.Contains(rep.Error, "symbolic link") || rep.SHA256 != "" {
			t.Errorf("%s: %+v", name, rep)
		}
	}
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("the file outside was touched: %v", err)
	}
	if _, err := os.Stat(filepath.Join(inside, "nested.csv")); err != nil {
		t.Fatalf("the file in a subfolder was touched: %v", err)
	}
}

func TestUnreadableFilesGoToFailed(t *testing.T) {
	sc := schema(t, "door_visit")
	var whole bytes.Buffer
	{
		dir := t.TempDir()
		writeXLSX(t, filepath.Join(dir, "x.xlsx"), ledger(200, false))
		b, _ := os.ReadFile(filepath.Join(dir, "x.xlsx"))
		whole.Write(b)
	}
	cases := []struct {
		name, file string
		content    []byte
		error      string
	}{
		{"not a zip", "corrupt.xlsx", []byte("PK\x03\x04 this is not a workbook"), "open workbook"},
		{"truncated workbook", "truncated.xlsx", whole.Bytes()[:whole.Len()/2], "open workbook"},
		{"old excel", "old.xls", []byte{0xD0, 0xCF, 0x11, 0xE0}, "Excel 97-2003"},
		{"no header", "empty.csv", []byte("某某社区敲门行动台账\r\n"), "has no header row"},
		{"required column missing", "nocol.csv", []byte("标题\r\n网格编码,对象编号\r\n220173002001004,T1\r\n"), "lacks the column 走访时间 (visited_at, required)"},
		{"utf-16", "u16.csv", []byte{0xFF, 0xFE, 'a', 0}, "UTF-16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, tc.file), tc.content)
			cfg := doorConfig(dir)
			cfg.Pattern = "*.{csv,xlsx,xls}"
			src, _ := newSource(t, cfg, sc)
			if res := drive(t, src, sc, "", 2); res.records != 0 {
				t.Fatalf("%d records", res.records)
			}
			rep := readReport(t, filepath.Join(dir, FailedDir, tc.file+ReportSuffix))
			if rep.Status != StatusFailed || !strings.Contains(rep.Error, tc.error) || rep.StoredAs != FailedDir+"/"+tc.file {
				t.Fatalf("report: %+v", rep)
			}
			if _, err := os.Stat(filepath.Join(dir, FailedDir, tc.file)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEncodingDetection(t *testing.T) {
	text := "网格编码,对象编号\n220173002001004,𠮷\n"
	gb18030, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 100_000) + "网格" // the first non-ASCII byte lies far in
	cases := []struct {
		name     string
		in       []byte
		declared string
		want     string
		err      string
	}{
		{"ascii", []byte("a,b\n"), EncodingAuto, EncodingUTF8, ""},
		{"utf-8", []byte(text), EncodingAuto, EncodingUTF8, ""},
		{"utf-8 with BOM", append([]byte("\ufeff"), text...), EncodingAuto, encodingUTF8BOM, ""},
		{"BOM wins over a declared gbk", append([]byte("\ufeff"), text...), EncodingGBK, encodingUTF8BOM, ""},
		{"gb18030 with a four-byte character", gb18030, EncodingAuto, EncodingGB18030, ""},
		{"gbk", gbk(t, []byte("网格编码\n")), EncodingAuto, EncodingGB18030, ""},
		{"gbk far in", gbk(t, []byte(long)), EncodingAuto, EncodingGB18030, ""},
		{"utf-8 far in", []byte(long), EncodingAuto, EncodingUTF8, ""},
		{"declared gbk", gbk(t, []byte("网格编码\n")), EncodingGBK, EncodingGBK, ""},
		{"declared utf-8 but gbk", gbk(t, []byte("网格编码\n")), EncodingUTF8, "", "not valid UTF-8 (first bad byte at offset 0)"},
		{"truncated rune at the end", []byte("网格"[:5]), EncodingUTF8, "", "offset 3"},
		{"utf-16", []byte{0xFE, 0xFF, 0, 'a'}, EncodingAuto, "", "UTF-16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{1, 2, 7, 1 << 20} { // detection must not depend on how the bytes arrive
				u := newUTF8Scan()
				for b := tc.in; len(b) > 0; b = b[min(chunk, len(b)):] {
					_, _ = u.Write(b[:min(chunk, len(b))])
				}
				got, err := detect(tc.declared, u)
				if tc.err != "" {
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("chunk %d: err %v, want %q", chunk, err, tc.err)
					}
					continue
				}
				if err != nil || got != tc.want {
					t.Fatalf("chunk %d: %q, %v; want %q", chunk, got, err, tc.want)
				}
			}
		})
	}

	// End to end: a GB18030 ledger with a character GBK lacks arrives whole.
	sc := schema(t, "door_visit")
	dir := t.TempDir()
	rows := ledger(3, false)
	rows[1].cells[3] = "T𠮷01"
	writeFile(t, filepath.Join(dir, "gb.csv"), func() []byte {
		b, _ := simplifiedchinese.GB18030.NewEncoder().Bytes(csvBytes(rows))
		return b
	}())
	src, _ := newSource(t, doorConfig(dir), sc)
	res := drive(t, src, sc, "", 2)
	if got := res.produced[4]["target_id"]; got != "T𠮷01" {
		t.Fatalf("target_id = %v", got)
	}
}

// TestResume: a connector restarted in the middle of a file reads it on
// from its journal, and the report still counts every row once; a page
// whose outcomes never came is handed out again.
func TestResume(t *testing.T) {
	sc := schema(t, "door_visit")
	dir := t.TempDir()
	rows := ledger(250, false)
	writeFile(t, filepath.Join(dir, "l.csv"), csvBytes(rows))
	cfg := doorConfig(dir)
	cfg.PageSize = 40
	cfg.StableFor = time.Nanosecond
	src, clk := newSource(t, cfg, sc)
	poll := func(s *Source, cursor string) []connectors.Record {
		t.Helper()
		for range 3 {
			recs, _, err := s.Poll(context.Background(), cursor)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) > 0 {
				return recs
			}
			clk.t = clk.t.Add(time.Second)
		}
		t.Fatal("no records")
		return nil
	}
	first := poll(src, "")
	for _, r := range first {
		obj, _ := schemas.Decode(r.Raw)
		src.Outcome(r, sc.Validate(obj, areas, time.Now()))
	}
	cursor := first[len(first)-1].Cursor
	// The second page is produced but the process dies before the next
	// poll: its outcomes are lost with it.
	second := poll(src, cursor)
	if _, row := splitPosition(t, second[0].Position); row != 43 {
		t.Fatalf("second page starts at row %d", row)
	}
	// The same instance asked again without outcomes hands out the page again.
	again := poll(src, cursor)
	if again[0].Position != second[0].Position || len(again) != len(second) {
		t.Fatalf("page not handed out again: %s", again[0].Position)
	}
	c, err := ParseCursor(again[len(again)-1].Cursor)
	if err != nil || c.File != "l.csv" || c.Row != 82 || len(c.SHA256) != 64 {
		t.Fatalf("cursor %+v, %v", c, err)
	}

	restarted, _ := newSource(t, cfg, sc)
	restarted.Now = src.Now
	res := drive(t, restarted, sc, again[len(again)-1].Cursor, 2)
	if _, ok := res.produced[43]; !ok {
		t.Fatal("the restarted source did not read on from the journal's checkpoint")
	}
	if _, ok := res.produced[42]; ok {
		t.Fatal("a settled row was read again")
	}
	rep := readReport(t, filepath.Join(dir, DoneDir, "l.csv"+ReportSuffix))
	if rep.Rows != 250 || rep.Produced+rep.Rejected != 250 || rep.Rejected != 5 || len(rep.RejectedRows) != 5 {
		t.Fatalf("report after restart: rows %d produced %d rejected %d (%d listed)", rep.Rows, rep.Produced, rep.Rejected, len(rep.RejectedRows))
	}
	if _, err := os.Stat(filepath.Join(dir, journalName(rep.SHA256))); !os.IsNotExist(err) {
		t.Fatalf("journal left behind: %v", err)
	}
}

// TestReportNeverHoldsPersonalData: a storefront ledger whose phone numbers
// are personal (x-pii) leaves no phone number in its report.
func TestReportNeverHoldsPersonalData(t *testing.T) {
	sc := schema(t, "store")
	dir := t.TempDir()
	csv := "门店台账\n门店编号,招牌名,类别,网格编码,联系电话,面积,人数,最近消防检查\n" +
		"S001,好再来饭店,餐饮,220173002001004,13912345678,35.5,3,2026/10/1\n" +
		"S002,平价超市,零售,220173002001004,1391234567,80,2,2026-10-02\n" + // a digit short
		"S003,小理发店,美容洗浴,220173002001004,２３９１２３４５６７８,１２,1,2026年10月3日\n" + // a bad mobile in full width
		"S004,网吧,上网服务,220173002001004,13912345678,abc,1,2026-10-04\n"
	writeFile(t, filepath.Join(dir, "stores.csv"), []byte(csv))
	cfg := Config{Dir: dir, HeaderRow: 2,
		Columns: map[string]string{"门店编号": "store_id", "招牌名": "signboard", "类别": "store_category", "网格编码": "grid_code",
			"联系电话": "contact_phone", "面积": "area_m2", "人数": "staff_n", "最近消防检查": "last_fire_check_on"},
		Values: map[string]map[string]string{"store_category": {"餐饮": "catering", "零售": "shop", "美容洗浴": "beauty_bath", "上网服务": "internet_cafe"}},
	}
	src, _ := newSource(t, cfg, sc)
	res := drive(t, src, sc, "", 2)
	if len(res.produced) != 1 || len(res.rejected) != 3 {
		t.Fatalf("produced %d rejected %d: %v", len(res.produced), len(res.rejected), res.rejected)
	}
	if res.produced[3]["area_m2"] != json.Number("35.5") || res.produced[3]["staff_n"] != json.Number("3") || res.produced[3]["last_fire_check_on"] != "2026-10-01" {
		t.Errorf("row 3: %v", res.produced[3])
	}
	b, err := os.ReadFile(filepath.Join(dir, DoneDir, "stores.csv"+ReportSuffix))
	if err != nil {
		t.Fatal(err)
	}
	for _, digits := range []string{"1391234567", "２３９１２３４５６７８", "2391234"} {
		if bytes.Contains(b, []byte(digits)) {
			t.Fatalf("report holds %s:\n%s", digits, b)
		}
	}
	rep := readReport(t, filepath.Join(dir, DoneDir, "stores.csv"+ReportSuffix))
	want := map[int]string{4: "contact_phone", 5: "contact_phone", 6: "area_m2"}
	for _, r := range rep.RejectedRows {
		if want[r.Row] != r.Field {
			t.Errorf("row %d rejected on %q: %s", r.Row, r.Field, r.Message)
		}
		if r.Row == 6 && !strings.Contains(r.Message, `"abc" is not a finite number`) {
			t.Errorf("row 6 message: %s", r.Message)
		}
	}
}

func TestNDJSON(t *testing.T) {
	sc := schema(t, "door_visit")
	dir := t.TempDir()
	lines := `{"visit_id":"V1","target_type":"household","target_id":"H1","visited_at":"2026-11-26 08:00","grid_code":"220173002001004","outcome":"已见面"}

{"visit_id":"V2","target_type":"household","target_id":"H2","visited_at":"2026-11-26T08:05:00+08:00","grid_code":"220173002001004","outcome":"met","lon":125.3}
not json at all
[1,2]
{"visit_id":"V3","target_type":"household","target_id":"H3","visited_at":"2026-11-26 08:00","grid_code":"220173002001004","outcome":"失联"}
`
	writeFile(t, filepath.Join(dir, "visits.ndjson"), []byte(lines))
	src, _ := newSource(t, doorConfig(dir), sc)
	res := drive(t, src, sc, "", 2)
	if len(res.produced) != 2 || res.produced[1]["visited_at"] != "2026-11-26T08:00:00+08:00" || res.produced[1]["outcome"] != "met" {
		t.Fatalf("produced %v", res.produced)
	}
	if res.rejected[4].Reason != schemas.ReasonMalformed || res.rejected[5] == nil || res.rejected[6].Field != "outcome" {
		t.Fatalf("rejected %v", res.rejected)
	}
	rep := readReport(t, filepath.Join(dir, DoneDir, "visits.ndjson"+ReportSuffix))
	if rep.Rows != 5 || rep.Rejected != 3 || rep.BlankRows != 0 {
		t.Fatalf("report %+v", rep)
	}
}

// TestGoldenReport pins the report of testdata/ledger.csv (run with
// -update to rewrite testdata/ledger.csv.report.json).
func TestGoldenReport(t *testing.T) {
	sc := schema(t, "door_visit")
	dir := t.TempDir()
	copyFile(t, "testdata/ledger.csv", filepath.Join(dir, "ledger.csv"))
	mtime := time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "ledger.csv"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	src, _ := newSource(t, doorConfig(dir), sc)
	res := drive(t, src, sc, "", 2)
	if len(res.produced) == 0 || res.produced[3]["updated_at"] != "2026-11-26T18:00:00Z" {
		t.Fatalf("row 3: %v", res.produced[3])
	}
	got, err := os.ReadFile(filepath.Join(dir, DoneDir, "ledger.csv"+ReportSuffix))
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/ledger.csv.report.json"
	if *update {
		writeFile(t, golden, got)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("report differs from %s (run with -update):\n%s", golden, got)
	}
}

// TestSameNameNewContent: a corrected ledger dropped under the same name is
// read, and stored beside the first.
func TestSameNameNewContent(t *testing.T) {
	sc := schema(t, "door_visit")
	dir := t.TempDir()
	rows := ledger(60, false)
	writeFile(t, filepath.Join(dir, "l.csv"), csvBytes(rows))
	src, _ := newSource(t, doorConfig(dir), sc)
	drive(t, src, sc, "", 2)
	rows[49].cells[1] = "220173002001004" // the bad grid code fixed
	writeFile(t, filepath.Join(dir, "l.csv"), csvBytes(rows))
	res := drive(t, src, sc, "", 2)
	if res.records != 60 || len(res.rejected) != 0 {
		t.Fatalf("records %d rejected %d", res.records, len(res.rejected))
	}
	if r := readReport(t, filepath.Join(dir, DoneDir, "l.2.csv"+ReportSuffix)); r.Status != StatusLoaded || r.StoredAs != "done/l.2.csv" {
		t.Fatalf("%+v", r)
	}
}

func TestConfigValidate(t *testing.T) {
	sc := schema(t, "door_visit")
	cases := []struct {
		name   string
		change func(c *Config)
		want   []string // "field: part of the message"
	}{
		{"valid", func(c *Config) {}, nil},
		{"no dir", func(c *Config) { c.Dir = "" }, []string{"dir: is required"}},
		{"bad pattern", func(c *Config) { c.Pattern = "[.csv" }, []string{"pattern: is not a valid glob"}},
		{"pattern with a path", func(c *Config) { c.Pattern = "../*.csv" }, []string{"pattern: must match names directly in dir"}},
		{"encoding", func(c *Config) { c.Encoding = "big5" }, []string{"encoding: must be auto, utf-8, gbk or gb18030"}},
		{"time without zone", func(c *Config) {
			c.Types["visited_at"] = FieldType{Type: TypeTime, Layout: Layouts{"2006-01-02"}}
		}, []string{"types.visited_at.timezone: is required"}},
		{"time field not declared", func(c *Config) { delete(c.Types, "visited_at") }, []string{"types.visited_at.timezone: is required"}},
		{"unknown zone", func(c *Config) {
			c.Types["visited_at"] = FieldType{Type: TypeTime, Timezone: "Asia/Beijing"}
		}, []string{`types.visited_at.timezone: "Asia/Beijing" is not a known time zone`}},
		{"layout without a date", func(c *Config) {
			c.Types["visited_at"] = FieldType{Type: TypeTime, Layout: Layouts{"15:04"}, Timezone: "Asia/Shanghai"}
		}, []string{`types.visited_at.layout: "15:04" is not a Go layout`}},
		{"type mismatch", func(c *Config) { c.Types["lon"] = FieldType{Type: TypeTime, Timezone: "UTC"} }, []string{"types.lon.type: time cannot fill lon"}},
		{"unknown type", func(c *Config) { c.Types["lon"] = FieldType{Type: "float"} }, []string{`types.lon.type: must be string, integer`}},
		{"unknown field", func(c *Config) { c.Columns["户主电话"] = "head_phone" }, []string{`columns.户主电话: "head_phone" is not a field of door_visit`}},
		{"unknown default", func(c *Config) { c.Defaults["batch"] = "x" }, []string{`defaults.batch: "batch" is not a field`}},
		{"no key", func(c *Config) { c.ID = IDRule{} }, []string{"id: no column fills the key visit_id"}},
		{"template field", func(c *Config) { c.ID.Template = "{grid}-{target_id}" }, []string{"id.template: {grid} is not a field"}},
		{"template braces", func(c *Config) { c.ID.Template = "{grid_code" }, []string{"id.template: has unbalanced"}},
		{"updated_at", func(c *Config) { c.UpdatedAt = "mtime" }, []string{`updated_at: "mtime" is neither file_time`}},
		{"marker", func(c *Config) { c.Marker = "done" }, []string{"marker: must be a suffix"}},
		{"empty values", func(c *Config) { c.Values["outcome"] = map[string]string{} }, []string{"values.outcome: is empty"}},
		{"no columns", func(c *Config) { c.Columns = nil }, []string{"columns: is required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := doorConfig(t.TempDir())
			tc.change(&c)
			errs := append(c.Validate(), c.CheckSchema(sc)...)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					t.Errorf("missing %q in %q", w, got)
				}
			}
			if len(tc.want) == 0 && len(got) > 0 {
				t.Errorf("unexpected problems: %q", got)
			}
		})
	}
}

// TestSampleConfig: sample.yaml, shown in the README, is a valid source of
// the door_visit schema, decoded strictly.
func TestSampleConfig(t *testing.T) {
	var srcs []struct {
		Name   string        `yaml:"name"`
		Schema string        `yaml:"schema"`
		Type   string        `yaml:"type"`
		Every  time.Duration `yaml:"every"`
		File   Config        `yaml:"file"`
	}
	dec := yaml.NewDecoder(strings.NewReader(SampleConfig))
	dec.KnownFields(true)
	if err := dec.Decode(&srcs); err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 1 || srcs[0].Type != "filedrop" {
		t.Fatalf("%+v", srcs)
	}
	cfg := srcs[0].File
	cfg.Dir = t.TempDir()
	sc := schema(t, srcs[0].Schema)
	if _, err := New(cfg, sc); err != nil {
		t.Fatal(err)
	}
	if cfg.Types["visited_at"].Timezone != "Asia/Shanghai" || len(cfg.Types["visited_at"].Layout) != 4 {
		t.Fatalf("visited_at: %+v", cfg.Types["visited_at"])
	}
}

func TestParseCursor(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	cases := []struct {
		in   string
		want Cursor
		err  bool
	}{
		{"", Cursor{}, false},
		{`{"sha256":"` + sha + `","file":"a.csv","row":7}`, Cursor{sha, "a.csv", 7}, false},
		{`{"sha256":"xyz","file":"a.csv","row":7}`, Cursor{}, true},
		{`{"t":"2026-11-26T00:00:00Z","id":"E1"}`, Cursor{}, true},
		{`7`, Cursor{}, true},
	}
	for _, tc := range cases {
		got, err := ParseCursor(tc.in)
		if (err != nil) != tc.err || !tc.err && got != tc.want {
			t.Errorf("ParseCursor(%q) = %+v, %v", tc.in, got, err)
		}
		if !tc.err && got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}

func TestExcelSerial(t *testing.T) {
	cases := []struct {
		serial float64
		want   string
	}{
		{46352.375, "2026-11-26T09:00:00+08:00"},
		{46352.99999999, "2026-11-27T00:00:00+08:00"},
		{61, "1900-03-01T00:00:00"}, // Excel's 29 February 1900 (serial 60) never was
		{1, "1900-01-01T00:00:00"},
	}
	for _, tc := range cases {
		got, ok := excelTime(tc.serial, shanghai)
		if !ok || !strings.HasPrefix(got.Format(time.RFC3339), tc.want) {
			t.Errorf("excelTime(%v) = %s, %v; want %s", tc.serial, got.Format(time.RFC3339), ok, tc.want)
		}
	}
	for _, bad := range []float64{0, -1, 3e6} {
		if _, ok := excelTime(bad, shanghai); ok {
			t.Errorf("excelTime(%v) accepted", bad)
		}
	}
}

func TestExpandBraces(t *testing.T) {
	got := expandBraces("*.{csv,xlsx,ndjson}")
	if !slices.Equal(got, []string{"*.csv", "*.xlsx", "*.ndjson"}) {
		t.Fatal(got)
	}
}

func TestConvert(t *testing.T) {
	sc := schema(t, "store")
	cfg := Config{Dir: t.TempDir(),
		Columns: map[string]string{"门店编号": "store_id", "联系电话": "contact_phone", "人数": "staff_n", "面积": "area_m2", "特征": "features"},
		Values:  map[string]map[string]string{"store_category": {"餐饮": "catering", "零售 店": "shop"}, "features": {"消防重点": "fire_key"}, "contact_phone": {"无": "none"}},
		Types: map[string]FieldType{
			"last_visit_at":      {Type: TypeTime, Layout: Layouts{"2006年1月2日 15:04", LayoutExcel}, Timezone: "Asia/Shanghai"},
			"last_fire_check_on": {Type: TypeDate},
		},
	}
	p, errs := newPlan(&cfg, sc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	cases := []struct {
		field, in string
		want      any
		note      string // part of the note; "" none
	}{
		{"store_category", "餐饮", "catering", ""},
		{"store_category", "零售店", "shop", ""},  // labels compared without whitespace
		{"store_category", "shop", "shop", ""}, // already a code
		{"store_category", "小卖部", "小卖部", `unknown label "小卖部"; known: 零售 店, 餐饮`},
		{"contact_phone", "1391234567x", "1391234567x", "unknown label; known: 无"}, // a personal field's value is never echoed
		{"staff_n", "１２", int64(12), ""},
		{"staff_n", "1,200", int64(1200), ""},
		{"staff_n", "3.0", int64(3), ""},
		{"staff_n", "3.5", "3.5", `"3.5" is not a whole number`},
		{"area_m2", "35.5", 35.5, ""},
		{"area_m2", "NaN", "NaN", "is not a finite number"},
		{"area_m2", "1e400", "1e400", "is not a finite number"},
		{"features", "消防重点、 night_market ,", []any{"fire_key", "night_market"}, `unknown label "night_market"`},
		{"last_visit_at", "2026年11月26日 8:30", "2026-11-26T08:30:00+08:00", ""},
		{"last_visit_at", "46352.354166666664", "2026-11-26T08:30:00+08:00", ""},
		{"last_visit_at", "2026-11-26t00:30:00z", "2026-11-26T00:30:00Z", ""},
		{"last_visit_at", "2026-11-26T23:59:60Z", "2026-11-26T23:59:60Z (unreadable)", "is not a time written like 2026年11月26日 08:30, an Excel date cell"},
		{"last_visit_at", "昨天", "昨天", `"昨天" is not a time`},
		{"last_fire_check_on", "2026/10/1", "2026-10-01", ""},
		{"last_fire_check_on", "2026年10月3日", "2026-10-03", ""},
		{"last_fire_check_on", "46296", "2026-10-01", ""},
		{"last_fire_check_on", "2026-02-30", "2026-02-30 (unreadable)", "is not a date"},
	}
	for _, tc := range cases {
		t.Run(tc.field+"="+tc.in, func(t *testing.T) {
			got, n := p.conv[tc.field].convert(tc.in)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tc.want)
			if !bytes.Equal(gj, wj) {
				t.Errorf("got %s, want %s", gj, wj)
			}
			switch {
			case tc.note == "" && n != nil:
				t.Errorf("note %q", n.msg)
			case tc.note != "" && (n == nil || !strings.Contains(n.msg, tc.note)):
				t.Errorf("note %v, want one with %q", n, tc.note)
			}
		})
	}
}

// TestInterruptedFinish: a crash between the index update and the move
// leaves the file in the folder; it is moved on without a duplicate report.
func TestInterruptedFinish(t *testing.T) {
	sc := schema(t, "door_visit")
	dir := t.TempDir()
	content := csvBytes(ledger(10, false))
	writeFile(t, filepath.Join(dir, "l.csv"), content)
	src, _ := newSource(t, doorConfig(dir), sc)
	drive(t, src, sc, "", 2)
	// Put the state back as it was just before the move.
	if err := os.Rename(filepath.Join(dir, DoneDir, "l.csv"), filepath.Join(dir, "l.csv")); err != nil {
		t.Fatal(err)
	}
	rep := readReport(t, filepath.Join(dir, DoneDir, "l.csv"+ReportSuffix))
	writeFile(t, filepath.Join(dir, journalName(rep.SHA256)), []byte(`{"file":"l.csv"}`+"\n"))
	restarted, _ := newSource(t, doorConfig(dir), sc)
	if res := drive(t, restarted, sc, "", 2); res.records != 0 {
		t.Fatalf("%d records", res.records)
	}
	if _, err := os.Stat(filepath.Join(dir, DoneDir, "l.csv")); err != nil {
		t.Fatal(err)
	}
	if reps, _ := Reports(dir); len(reps) != 1 || reps[0].Status != StatusLoaded {
		t.Fatalf("reports: %+v", reps)
	}
	if _, err := os.Stat(filepath.Join(dir, journalName(rep.SHA256))); !os.IsNotExist(err) {
		t.Fatalf("journal left: %v", err)
	}
}

func TestEncodeObject(t *testing.T) {
	cases := []map[string]any{
		{},
		{"a": "plain", "b": "引号\"反斜杠\\换行\n\t\r\x00\x1f<>&", "c": "\xff\xfe bad utf-8", "d": "\u2028\u2029𠮷"},
		{"n": int64(-42), "i": 7, "f": 35.5, "tiny": 1e-7, "huge": 1e21, "zero": 0.0, "neg": -0.25},
		{"t": true, "f": false, "nil": nil, "list": []any{"人口", "车辆", int64(1), nil}, "empty": []any{}},
		{"num": json.Number("12.50"), "obj": map[string]any{"x": "y"}},
	}
	for i, obj := range cases {
		got, err := encodeObject(obj)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(obj)
		var a, b any
		if json.Unmarshal(got, &a) != nil || json.Unmarshal(want, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("case %d: %s, want %s", i, got, want)
		}
	}
	if _, err := encodeObject(map[string]any{"nan": math.NaN()}); err == nil {
		t.Error("NaN encoded")
	}
}

// A pattern of many {a,b} groups would expand exponentially; it is refused.
func TestPatternExpansionIsBounded(t *testing.T) {
	p := strings.Repeat("{a,b}", 40)
	start := time.Now()
	if got := expandBraces(p); got != nil {
		t.Fatalf("%d alternatives, want nil", len(got))
	}
	if time.Since(start) > time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	c := Config{Dir: "x", Pattern: p}
	found := false
	for _, e := range c.Validate() {
		if e.Field == "pattern" && strings.Contains(e.Msg, "more than 64 alternatives") {
			found = true
		}
	}
	if !found {
		t.Fatalf("Validate: %v", c.Validate())
	}
	if got := expandBraces("*.{csv,xlsx}{,.bak}"); len(got) != 4 {
		t.Fatalf("nested expansion: %v", got)
	}
}
