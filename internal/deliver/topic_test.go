package deliver

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/metrics"
)

// TestTopicCarriesChanges: every change is published to yiwang.anomaly.v1
// over TCP to a broker, keyed by its anomaly, with its id and type in the
// headers and the webhooks' payload.
func TestTopicCarriesChanges(t *testing.T) {
	b, err := kafka.StartBroker(kafka.BrokerConfig{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "kafka"), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := kafka.NewClient([]string{b.Addr()})
	defer client.Close()
	if err := client.EnsureTopics(ctx, []kafka.Topic{{Name: Topic, Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	w := kafka.NewWriter([]string{b.Addr()}, kafka.WriterOptions{})
	defer func() { _ = w.Close() }()

	db := openDB(t)
	at := time.Date(2026, 3, 3, 1, 0, 0, 0, time.UTC)
	flag(t, db, at, "WGY1", "WGY2")
	flag(t, db, at.Add(time.Hour), "WGY1") // WGY2 resolved
	k := &KafkaTopic{Receiver: "kafka", Producer: w}
	o := &Outbox{DB: db, Receivers: []Receiver{k}, Metrics: metrics.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if n, err := o.deliver(ctx, k); err != nil || n != 3 {
		t.Fatalf("delivered %d: %v", n, err)
	}
	msgs, err := client.ReadAll(ctx, Topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3", len(msgs))
	}
	last := msgs[2]
	var p struct {
		Type string
		Data Anomaly
	}
	if err := json.Unmarshal(last.Value, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "anomaly.resolved" || p.Data.Subject != "WGY2" || string(last.Key) != p.Data.ID ||
		last.Header("webhook-id") != p.Data.ID+".2" || last.Header("type") != "anomaly.resolved" || p.Data.Status != "resolved" {
		t.Fatalf("last message %s %q %q: %+v", last.Key, last.Header("webhook-id"), last.Header("type"), p)
	}
}
