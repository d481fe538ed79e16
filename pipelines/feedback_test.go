package pipelines

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/anomaly"
	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/queries"
)

// TestFeedbackReachesEveryReplica: feedback given through one replica goes
// through FeedbackTopic (over TCP to a broker) to every replica: a false
// positive shows the same on both, does not open again for its period on
// either, and a replica that did not hold the anomaly yet applies it when
// the anomaly opens there.
func TestFeedbackReachesEveryReplica(t *testing.T) {
	b, err := kafka.StartBroker(kafka.BrokerConfig{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "kafka"), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client := kafka.NewClient([]string{b.Addr()})
	defer client.Close()
	if err := client.EnsureTopics(ctx, []kafka.Topic{{Name: FeedbackTopic, Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}}}); err != nil {
		t.Fatal(err)
	}
	w := kafka.NewWriter([]string{b.Addr()}, kafka.WriterOptions{})
	defer func() { _ = w.Close() }()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	replica := func() *sql.DB {
		st, err := store.Open(ctx, filepath.Join(t.TempDir(), "r.duckdb"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if err := queries.Migrate(ctx, st); err != nil {
			t.Fatal(err)
		}
		a := feedbackApplier(client, st.DB(), log)
		actx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = a.run(actx); close(done) }()
		t.Cleanup(func() { stop(); <-done })
		return st.DB()
	}
	dbA, dbB := replica(), replica()
	week := time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC)
	flag := func(db *sql.DB, subjects ...string) anomaly.Result {
		t.Helper()
		var flags []anomaly.Flag
		for _, s := range subjects {
			flags = append(flags, anomaly.Flag{Subject: s, Area: "220173002001", Observed: 4, Expected: 3, Detail: "d"})
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := anomaly.Apply(ctx, tx, anomaly.Run{Rule: "instant_closures", Severity: anomaly.SeverityWarning, Mode: "normal",
			PeriodStart: week, PeriodEnd: week.AddDate(0, 0, 7), RunID: "r", Now: time.Now(), Flags: flags})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return res
	}
	state := func(db *sql.DB, subject string) string {
		var status, fb sql.NullString
		err := db.QueryRowContext(ctx, `SELECT status, feedback FROM anomalies WHERE id = ?`, anomaly.ID("instant_closures", subject, week)).Scan(&status, &fb)
		if errors.Is(err, sql.ErrNoRows) {
			return "none"
		}
		if err != nil {
			t.Fatal(err)
		}
		return status.String + "/" + fb.String
	}
	flag(dbA, "A", "B")
	flag(dbB, "A") // B has not flagged "B" yet

	fa := feedback{db: dbA, producer: w}
	if err := fa.Give(ctx, anomaly.Feedback{AnomalyID: anomaly.ID("instant_closures", "nobody", week), Kind: anomaly.FeedbackAck, Who: "x"}); !errors.Is(err, anomaly.ErrNotFound) {
		t.Fatalf("feedback on no anomaly: %v", err)
	}
	for _, s := range []string{"A", "B"} {
		if err := fa.Give(ctx, anomaly.Feedback{AnomalyID: anomaly.ID("instant_closures", s, week), Kind: anomaly.FeedbackFalsePositive,
			Who: "zhang.wei", Why: "patrol closures on the spot"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := state(dbA, "A") + " " + state(dbA, "B"); got != "resolved/false_positive resolved/false_positive" {
		t.Fatalf("replica A right after the answer: %s", got)
	}
	// Replica B has both answers once it holds the second (they come in
	// order on one partition): "A" applied, "B" kept for when it opens.
	kept := func(subject string) bool {
		t.Helper()
		var n int
		if err := dbB.QueryRowContext(ctx, `SELECT count(*) FROM anomaly_feedback WHERE anomaly_id = ?`, anomaly.ID("instant_closures", subject, week)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	deadline := time.Now().Add(30 * time.Second)
	for !kept("B") {
		if time.Now().After(deadline) {
			t.Fatal("replica B did not receive the answer on B within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := state(dbB, "A"); got != "resolved/false_positive" || !kept("A") {
		t.Fatalf("replica B: %s", got)
	}
	// Flagged again on both, and "B" for the first time on replica B: the
	// false positives stay resolved everywhere.
	flag(dbA, "A", "B")
	if res := flag(dbB, "A", "B"); res.Opened != 1 {
		t.Fatalf("replica B: %+v", res)
	}
	for _, db := range []*sql.DB{dbA, dbB} {
		if got := state(db, "A") + " " + state(db, "B"); got != "resolved/false_positive resolved/false_positive" {
			t.Fatalf("after the rules ran again: %s", got)
		}
	}
}
