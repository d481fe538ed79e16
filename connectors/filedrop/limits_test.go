package filedrop

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/deadletter"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/schemas"
)

// writeBombXLSX writes a workbook with the test ledger's title, header and
// good rows, then a row whose 对象编号 cell holds cellBytes bytes of "a",
// then the after rows. The zip is streamed, so the test never holds the
// cell either.
func writeBombXLSX(t testing.TB, path string, good []ledgerRow, cellBytes int64, after []ledgerRow) {
	t.Helper()
	writeWorkbook(t, path, good, cellBytes, after, 0)
}

// writeWorkbook is writeBombXLSX with, when sharedStrings is not 0, a
// shared-strings part of that many empty texts, the title cell being the
// first of them.
func writeWorkbook(t testing.TB, path string, good []ledgerRow, cellBytes int64, after []ledgerRow, sharedStrings int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	part := func(name, body string) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
	}
	part("[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">`+
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>`+
		`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>`+
		`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`)
	part("_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`+
		`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)
	part("xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">`+
		`<sheets><sheet name="台账" sheetId="1" r:id="rId1"/></sheets></workbook>`)
	part("xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`+
		`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`)
	w, err := zw.Create("xl/worksheets/sheet1.xml")
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	row := func(n int, cells []any) {
		fmt.Fprintf(bw, `<row r="%d">`, n)
		for i, c := range cells {
			fmt.Fprintf(bw, `<c r="%s%d" t="inlineStr"><is><t>%s</t></is></c>`, colName(i), n, cellText(c))
		}
		bw.WriteString(`</row>`)
	}
	bw.WriteString(`<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	if sharedStrings > 0 {
		bw.WriteString(`<row r="1"><c r="A1" t="s"><v>0</v></c></row>`)
	} else {
		row(1, []any{"某某社区敲门行动台账"})
	}
	head := make([]any, len(ledgerHeader))
	for i, h := range ledgerHeader {
		head[i] = h
	}
	row(2, head)
	n := 3
	for _, r := range good {
		row(n, r.cells)
		n++
	}
	big := ledgerRowAt(len(good), false)
	fmt.Fprintf(bw, `<row r="%d">`, n)
	for i, c := range big.cells {
		fmt.Fprintf(bw, `<c r="%s%d" t="inlineStr"><is><t>`, colName(i), n)
		if i != bigColumn {
			bw.WriteString(cellText(c))
		} else {
			chunk := bytes.Repeat([]byte("a"), 1<<20)
			for left := cellBytes; left > 0; left -= int64(len(chunk)) {
				bw.Write(chunk[:min(int64(len(chunk)), left)])
			}
		}
		bw.WriteString(`</t></is></c>`)
	}
	bw.WriteString(`</row>`)
	n++
	for _, r := range after {
		row(n, r.cells)
		n++
	}
	bw.WriteString(`</sheetData></worksheet>`)
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if sharedStrings > 0 {
		w, err := zw.Create("xl/sharedStrings.xml")
		if err != nil {
			t.Fatal(err)
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d"><si><t>某某社区敲门行动台账</t></si>`, sharedStrings, sharedStrings)
		for range sharedStrings - 1 {
			bw.WriteString(`<si/>`)
		}
		bw.WriteString(`</sst>`)
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// bigColumn is the column of the oversized cell: 对象编号 (target_id).
const bigColumn = 3

// writeBigCellCSV writes the test ledger's title and header, the good rows,
// a row whose 对象编号 cell holds cellBytes bytes (quoted, over lines of
// three bytes), then the after rows.
func writeBigCellCSV(t testing.TB, path string, good []ledgerRow, cellBytes int64, quoted bool, after []ledgerRow) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	writeCSVHead(bw)
	for _, r := range good {
		writeCSVRow(bw, r)
	}
	big := ledgerRowAt(len(good), false)
	for i := range bigColumn {
		fmt.Fprintf(bw, "%s,", cellText(big.cells[i]))
	}
	if quoted {
		bw.WriteString(`"`)
	}
	chunk := bytes.Repeat([]byte("ab\n"), 1<<18)
	if !quoted {
		chunk = bytes.Repeat([]byte("a"), 1<<20)
	}
	for left := cellBytes; left > 0; left -= int64(len(chunk)) {
		bw.Write(chunk[:min(int64(len(chunk)), left)])
	}
	if quoted {
		bw.WriteString(`"`)
	}
	for _, c := range big.cells[bigColumn+1:] {
		fmt.Fprintf(bw, ",%s", cellText(c))
	}
	bw.WriteString("\r\n")
	for _, r := range after {
		writeCSVRow(bw, r)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOversizedFiles: a cell or row over a limit is found while the file
// streams, and the report gives the real cause: a workbook that unpacks
// past max_unzipped_bytes is refused before anything is unpacked; a row
// over max_row_bytes fails the file at that row, keeping the rows before;
// a cell over max_cell_bytes refuses its row only (too_large) and the file
// goes on.
func TestOversizedFiles(t *testing.T) {
	sc := schema(t, "door_visit")
	good, after := ledger(5, false), ledger(8, false)[5:]
	cases := []struct {
		name, file string
		write      func(t *testing.T, path string)
		status     string
		error      string // part of the report's error
		produced   int
		tooLarge   []int // rows refused as too_large
	}{
		{"xlsx bomb", "bomb.xlsx", func(t *testing.T, p string) { writeBombXLSX(t, p, good, 300<<20, after) },
			StatusFailed, "the sheet unpacks to more than 256 MiB (limit max_unzipped_bytes)", 0, nil},
		{"xlsx row over the row limit", "long.xlsx", func(t *testing.T, p string) { writeBombXLSX(t, p, good, 20<<20, after) },
			StatusFailed, "row 8 is longer than 1 MiB (limit max_row_bytes)", 5, nil},
		{"xlsx cell over the cell limit", "cell.xlsx", func(t *testing.T, p string) { writeBombXLSX(t, p, good, 200<<10, after) },
			StatusLoaded, "", 8, []int{8}},
		{"csv row over the row limit", "long.csv", func(t *testing.T, p string) { writeBigCellCSV(t, p, good, 100<<20, false, after) },
			StatusFailed, "row 8 is longer than 1 MiB (limit max_row_bytes)", 5, nil},
		{"csv quoted multi-line cell over the row limit", "lines.csv", func(t *testing.T, p string) { writeBigCellCSV(t, p, good, 3<<20, true, after) },
			StatusFailed, "row 8 is longer than 1 MiB (limit max_row_bytes)", 5, nil},
		{"csv cell over the cell limit", "cell.csv", func(t *testing.T, p string) { writeBigCellCSV(t, p, good, 200<<10, false, after) },
			StatusLoaded, "", 8, []int{8}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.write(t, filepath.Join(dir, tc.file))
			src, _ := newSource(t, doorConfig(dir), sc)
			res := drive(t, src, sc, "", 2)
			sub := DoneDir
			if tc.status != StatusLoaded {
				sub = FailedDir
			}
			rep := readReport(t, filepath.Join(dir, sub, tc.file+ReportSuffix))
			if rep.Status != tc.status || !strings.Contains(rep.Error, tc.error) || strings.Contains(rep.Error, "no header row") {
				t.Fatalf("report: status %s, error %q", rep.Status, rep.Error)
			}
			if len(res.produced) != tc.produced || rep.Produced != tc.produced {
				t.Fatalf("produced %d (report %d), want %d", len(res.produced), rep.Produced, tc.produced)
			}
			if len(tc.tooLarge) != len(rep.RejectedRows) {
				t.Fatalf("rejected rows %+v, want %v", rep.RejectedRows, tc.tooLarge)
			}
			for i, r := range rep.RejectedRows {
				if r.Row != tc.tooLarge[i] || r.Reason != schemas.ReasonTooLarge || r.Field != "target_id" || r.Column != "对象编号" ||
					!strings.Contains(r.Message, "holds 200 KiB, more than 128 KiB (limit max_cell_bytes)") {
					t.Fatalf("rejected row %+v", r)
				}
			}
		})
	}
}

// TestBigCellDoesNotBlockTheFolder: the probe's case end to end, through
// the runner and the embedded broker. A CSV with a 100 MB cell used to make
// Kafka refuse its page, which the runner retried forever while the ledgers
// behind it waited. Now the file fails at that row with the cause, the rows
// before it are produced, and the next ledger loads.
func TestBigCellDoesNotBlockTheFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 100 MB file")
	}
	sc := schema(t, "door_visit")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	good, after := ledger(5, false), ledger(8, false)[5:]
	writeBigCellCSV(t, filepath.Join(dir, "big.csv"), good, 100<<20, false, after)
	rows := ledger(60, false)
	writeFile(t, filepath.Join(dir, "ledger.csv"), csvBytes(rows))
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "big.csv"), old, old); err != nil { // taken up first
		t.Fatal(err)
	}
	cfg := doorConfig(dir)
	cfg.StableFor = time.Nanosecond
	src, err := New(cfg, sc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := kafka.StartBroker(kafka.BrokerConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := kafka.NewClient([]string{b.Addr()})
	defer c.Close()
	if err := c.EnsureTopics(ctx, []kafka.Topic{{Name: sc.Topic, Partitions: 1}, {Name: deadletter.Topic, Partitions: 1},
		{Name: connectors.StateTopic, Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}}}); err != nil {
		t.Fatal(err)
	}
	w := kafka.NewWriter([]string{b.Addr()}, kafka.WriterOptions{})
	defer func() { _ = w.Close() }()
	st, err := connectors.LoadState(ctx, c, w)
	if err != nil {
		t.Fatal(err)
	}
	r := &connectors.Runner{Name: "ledger.door_visit", Schema: sc, Source: src, Every: 10 * time.Millisecond, Producer: w, State: st,
		Areas: areas, Metrics: metrics.New(), Now: time.Now, Log: slog.New(slog.DiscardHandler)}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Run(rctx) }()
	for {
		_, err1 := os.Stat(filepath.Join(dir, FailedDir, "big.csv"+ReportSuffix))
		_, err2 := os.Stat(filepath.Join(dir, DoneDir, "ledger.csv"+ReportSuffix))
		if err1 == nil && err2 == nil {
			break
		}
		if ctx.Err() != nil {
			stop()
			<-done
			t.Fatal("the folder is blocked: no reports")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	rep := readReport(t, filepath.Join(dir, FailedDir, "big.csv"+ReportSuffix))
	if rep.Status != StatusFailed || rep.Error != "row 8 is longer than 1 MiB (limit max_row_bytes); shorten its text or split it" || rep.Produced != 5 {
		t.Fatalf("report of big.csv: %+v", rep)
	}
	if rep := readReport(t, filepath.Join(dir, DoneDir, "ledger.csv"+ReportSuffix)); rep.Status != StatusLoaded || rep.Rows != 60 {
		t.Fatalf("report of ledger.csv: %+v", rep)
	}
	recs, err := c.ReadAll(ctx, sc.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if want := 5 + 60 - 1; len(recs) != want { // ledger row 52 has a bad grid code
		t.Fatalf("%d records, want %d", len(recs), want)
	}
}

// TestOversizedFilesMemory measures, in a child process of its own, the
// peak resident memory (VmHWM) of reading the probe's files: an XLSX whose
// one cell unpacks to 1.86 GiB from 1.9 MB, an XLSX with a 100 MiB cell
// within max_unzipped_bytes, and a CSV with a 100 MB cell. The peak must
// stay under 1 GiB (it was 10.7 GB for the first), and excelize must leave
// no temporary file behind.
func TestOversizedFilesMemory(t *testing.T) {
	if os.Getenv("FILEDROP_MEMORY_CHILD") == "1" {
		memoryChild(t)
		return
	}
	if testing.Short() {
		t.Skip("writes large files")
	}
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOversizedFilesMemory$", "-test.v")
	cmd.Env = append(os.Environ(), "FILEDROP_MEMORY_CHILD=1", "TMPDIR="+tmp, "GOMAXPROCS=2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, kb, ok := strings.Cut(strings.TrimSpace(line), " peak_rss_kib=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.Fields(kb)[0])
		if err != nil {
			t.Fatal(line)
		}
		t.Logf("%s: peak RSS %d MiB (%s)", name, n>>10, line)
		if n > 1<<20 {
			t.Errorf("%s: peak RSS %d MiB, want under 1 GiB", name, n>>10)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func memoryChild(t *testing.T) {
	sc := schema(t, "door_visit")
	good, after := ledger(5, false), ledger(8, false)[5:]
	for _, tc := range []struct {
		name, file string
		write      func(path string)
		error      string
	}{
		{"xlsx 1.86 GiB cell", "bomb.xlsx", func(p string) { writeBombXLSX(t, p, good, 1997<<20, after) }, "unpacks to more than 256 MiB"},
		{"xlsx 100 MiB cell", "long.xlsx", func(p string) { writeBombXLSX(t, p, good, 100<<20, after) }, "row 8 is longer"},
		{"csv 100 MB cell", "long.csv", func(p string) { writeBigCellCSV(t, p, good, 100<<20, false, after) }, "row 8 is longer"},
		// 612 KB on disk that excelize indexed into 1.6 GB.
		{"xlsx 50 million shared strings", "strings.xlsx", func(p string) { writeWorkbook(t, p, good, 10, after, 50_000_000) }, "shared strings hold more than 1048576 texts"},
	} {
		dir := t.TempDir()
		tc.write(filepath.Join(dir, tc.file))
		fi, _ := os.Stat(filepath.Join(dir, tc.file))
		start := time.Now()
		src, _ := newSource(t, doorConfig(dir), sc)
		drive(t, src, sc, "", 2)
		took := time.Since(start)
		rep := readReport(t, filepath.Join(dir, FailedDir, tc.file+ReportSuffix))
		if !strings.Contains(rep.Error, tc.error) {
			t.Fatalf("%s: %q", tc.name, rep.Error)
		}
		// The peak only grows: each line bounds its case and those before.
		fmt.Printf("%s peak_rss_kib=%d file_bytes=%d took=%s\n", tc.name, vmHWM(t), fi.Size(), took.Round(time.Millisecond))
	}
}

// vmHWM is the process's peak resident set size in KiB.
func vmHWM(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	t.Skip("no VmHWM")
	return 0
}

// A quoted cell that spans many short lines is one record: the row limit
// counts all its lines (csv.Reader's InputOffset moves on line by line,
// so a limit reset from it would let a cell of any size through in lines
// under the limit; FuzzLimits found this).
func TestRowLimitCountsEveryLineOfAQuotedCell(t *testing.T) {
	cell := strings.Repeat(strings.Repeat("x", 99)+"\n", 30000) // 3 MB
	data := "a,b\nok,1\n\"" + cell + "\",2\nafter,3\n"
	rows := newCSVRows(strings.NewReader(data), EncodingUTF8, ',', 1<<20, nil)
	for i := 0; ; i++ {
		_, _, err := rows.next()
		if err == nil {
			if i >= 2 {
				t.Fatal("the 3 MB quoted cell was read as a row under a 1 MiB limit")
			}
			continue
		}
		var long *rowTooLong
		if !errors.As(err, &long) || long.row != 3 {
			t.Fatalf("record %d: %v, want row 3 too long", i, err)
		}
		if rows.lim.n > 1<<20+readSlack+64 {
			t.Errorf("%d bytes read for a 1 MiB limit", rows.lim.n)
		}
		return
	}
}
