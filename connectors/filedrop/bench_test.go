package filedrop

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// benchmarkFile reads one generated ledger per iteration, from the first
// look at the folder to the file's move to done/, with the runner's part
// reduced to reporting every record as produced. It reports rows/s.
func benchmarkFile(b *testing.B, name string, write func(path string)) {
	sc := schema(b, "door_visit")
	from := filepath.Join(b.TempDir(), name)
	write(from)
	rows := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		if err := os.Link(from, filepath.Join(dir, name)); err != nil {
			b.Fatal(err)
		}
		src, clk := newSource(b, doorConfig(dir), sc)
		b.StartTimer()
		for empty, seen := 0, false; empty < 2; {
			recs, _, err := src.Poll(context.Background(), "")
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range recs {
				src.Outcome(r, nil)
			}
			rows += len(recs)
			if len(recs) == 0 {
				if seen {
					empty++
				}
				clk.t = clk.t.Add(src.cfg.StableFor)
			}
			seen = true
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkXLSX50k(b *testing.B) {
	benchmarkFile(b, "ledger.xlsx", func(p string) { writeXLSX(b, p, ledger(50_000, true)) })
}

func BenchmarkCSV1M(b *testing.B) {
	benchmarkFile(b, "ledger.csv", func(p string) {
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		writeCSVHead(w)
		for i := range 1_000_000 {
			writeCSVRow(w, ledgerRowAt(i, false))
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	})
}
