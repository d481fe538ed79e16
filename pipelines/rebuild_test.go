package pipelines

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/simulate"
	"github.com/yiwang-gov/yiwang/internal/store"
)

// TestRebuildMatchesLive: a database rebuilt from the log, while the live
// pipeline serves, has every record table with the same rows (the same
// count and hash sum) as the live one.
func TestRebuildMatchesLive(t *testing.T) {
	sim := simulate.New(simulate.Config{Seed: testSeed, Scale: 0.01, InvalidShare: 0.05, Token: "tok", Now: time.Now})
	p := startDemo(t, sim, "tok", nil)
	for range 5 {
		sim.Step(300)
		time.Sleep(200 * time.Millisecond)
	}
	waitLedger(t, sim, p.server, p.broker, 120*time.Second)

	cfg := *p.cfg
	cfg.Kafka.Brokers = []string{p.broker}
	out := filepath.Join(t.TempDir(), "rebuilt.duckdb")
	res, err := Rebuild(context.Background(), &cfg, out, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	var diffs []string
	for _, d := range res.Tables {
		live := query(t, p.server, store.DigestSQL(d.Table))
		rows, sum := fmt.Sprint(live[0][0]), fmt.Sprint(live[0][1])
		if rows != fmt.Sprint(d.Rows) || sum != d.Sum {
			diffs = append(diffs, fmt.Sprintf("%s: live %s rows, sum %s; rebuilt %d rows, sum %s", d.Table, rows, sum, d.Rows, d.Sum))
		}
		total += d.Rows
	}
	if len(diffs) > 0 {
		t.Fatalf("rebuilt tables differ from the live ones:\n%s", strings.Join(diffs, "\n"))
	}
	if total < 1000 {
		t.Fatalf("only %d rows in all tables: the check compared next to nothing", total)
	}
	if _, err := Rebuild(context.Background(), &cfg, out, Options{Log: slog.Default()}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second rebuild onto the same file: %v, want a refusal", err)
	}
	t.Logf("%d tables, %d rows, %d dead letters refused again, in %s", len(res.Tables), total, res.DeadLetters, res.Took)
}
