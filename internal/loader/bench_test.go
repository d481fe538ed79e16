package loader

import (
	"context"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

func benchLoader(b *testing.B) (*Loader, *schemas.Schema) {
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		b.Fatal(err)
	}
	sc, _ := reg.Get("grid_event")
	l := &Loader{Registry: reg, Areas: anyArea{}, Metrics: metrics.New(), Now: time.Now}
	return l, sc
}

// BenchmarkDecode measures the loader's per-record CPU work: decode,
// validate (JSON Schema and domain checks), convert to a row.
func BenchmarkDecode(b *testing.B) {
	l, sc := benchLoader(b)
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	msgs := make([]kafka.Message, 1000)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: sc.Topic, Value: event(i, base)}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if it := l.decode(sc, msgs[i%len(msgs)]); it.dead != nil {
			b.Fatal(it.dead.Header("yiwang.error.message"))
		}
	}
}

// BenchmarkStoreApply measures the upsert of 20,000-row batches (new keys)
// with offsets, into a DuckDB table that grows to b.N × 20,000 rows.
func BenchmarkStoreApply(b *testing.B) {
	l, sc := benchLoader(b)
	ctx := context.Background()
	st, err := store.Open(ctx, b.TempDir()+"/b.duckdb", store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.MigrateSchemas(ctx, l.Registry); err != nil {
		b.Fatal(err)
	}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const batch = 20000
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		rows := make([][]any, batch)
		for j := range rows {
			it := l.decode(sc, kafka.Message{Value: event(i*batch+j, base)})
			if it.dead != nil {
				b.Fatal(it.dead.Header("yiwang.error.message"))
			}
			rows[j] = it.row
		}
		b.StartTimer()
		if err := st.Apply(ctx, store.Batch{Tables: []store.TableRows{{Schema: sc, Rows: rows}}, Next: map[string]map[int]int64{"t": {0: int64(i)}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
}
