package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func startBroker(t *testing.T, dir string) *Broker {
	t.Helper()
	b, err := StartBroker(BrokerConfig{Listen: "127.0.0.1:0", DataDir: dir, Partitions: 3, SegmentBytes: 1 << 20, RetentionMs: 3600_000})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProduceReadRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	b := startBroker(t, dir)
	c := NewClient([]string{b.Addr()})
	topics := []Topic{
		{Name: "t.records", Partitions: 3, Configs: map[string]string{"segment.bytes": "1048576", "retention.ms": "3600000"}},
		{Name: "t.state", Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}},
	}
	if err := c.EnsureTopics(ctx, topics); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureTopics(ctx, topics); err != nil { // idempotent
		t.Fatalf("second EnsureTopics: %v", err)
	}
	w := NewWriter([]string{b.Addr()}, WriterOptions{})
	var msgs []Message
	for i := range 300 {
		msgs = append(msgs, Message{Topic: "t.records", Key: []byte(fmt.Sprintf("k%d", i%50)), Value: []byte(fmt.Sprint(i)),
			Headers: []Header{{Key: "h", Value: []byte("v")}}})
	}
	if err := w.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadAll(ctx, "t.records")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 300 {
		t.Fatalf("read %d records, want 300", len(got))
	}
	partOf := map[string]int{}
	for _, m := range got {
		if p, ok := partOf[string(m.Key)]; ok && p != m.Partition {
			t.Fatalf("key %s on partitions %d and %d: the balancer must hash keys", m.Key, p, m.Partition)
		}
		partOf[string(m.Key)] = m.Partition
		if m.Header("h") != "v" {
			t.Fatal("header lost")
		}
	}
	if err := c.CommitGroupOffsets(ctx, "lagtool", map[string]map[int]int64{"t.records": {0: 1}}); err != nil {
		t.Fatalf("commit group offsets: %v", err)
	}
	c.Close()
	b.Close()

	// The same data directory brings the records back.
	b2, err := StartBroker(BrokerConfig{Listen: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	c2 := NewClient([]string{b2.Addr()})
	defer c2.Close()
	got2, err := c2.ReadAll(ctx, "t.records")
	if err != nil {
		t.Fatal(err)
	}
	if len(got2) != 300 {
		t.Fatalf("after restart read %d records, want 300", len(got2))
	}
}

// TestWriteTooLarge: a record over the writer's limit and one over the
// topic's max.message.bytes both come back as a TooLargeError naming them,
// instead of an error a caller can only retry.
func TestWriteTooLarge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := startBroker(t, t.TempDir())
	defer b.Close()
	c := NewClient([]string{b.Addr()})
	defer c.Close()
	if err := c.EnsureTopics(ctx, []Topic{{Name: "small", Partitions: 1, Configs: map[string]string{"max.message.bytes": "20000"}},
		{Name: "big", Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	w := NewWriter([]string{b.Addr()}, WriterOptions{})
	defer func() { _ = w.Close() }()
	huge := Message{Topic: "big", Key: []byte("k"), Value: make([]byte, MaxMessageBytes+2<<10)}
	if MessageBytes(huge) <= MaxMessageBytes {
		t.Fatalf("MessageBytes %d", MessageBytes(huge))
	}
	err := w.Write(ctx, Message{Topic: "big", Value: []byte("a")}, huge)
	var tl *TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) || !slices.Equal(tl.Indexes, []int{1}) {
		t.Fatalf("writer limit: %v", err)
	}
	err = w.Write(ctx, Message{Topic: "small", Value: make([]byte, 30000)})
	if !errors.As(err, &tl) || !slices.Equal(tl.Indexes, []int{0}) {
		t.Fatalf("broker limit: %v", err)
	}
	if err := w.Write(ctx, Message{Topic: "small", Value: make([]byte, 1000)}); err != nil {
		t.Fatal(err)
	}
}
