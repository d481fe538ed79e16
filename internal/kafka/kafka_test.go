package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	kgo "github.com/segmentio/kafka-go"
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

// TestAwaitTopicsWaitsForTheBroker starts a role's topic creation before
// any broker listens on its address (the SIGKILL test's connect process
// once exited with "Broker Not Available" when it started while the broker
// was restarting): it must wait, say so, and create the topics once the
// broker is up.
func TestAwaitTopicsWaitsForTheBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	warned := make(chan string, 16)
	log := slog.New(&notify{level: slog.LevelWarn, to: warned})
	c := NewClient([]string{addr})
	done := make(chan error, 1)
	go func() { done <- c.AwaitTopics(ctx, []Topic{{Name: "t.await", Partitions: 3}}, log) }()
	select {
	case msg := <-warned:
		if !strings.Contains(msg, "retrying until the broker answers") {
			t.Fatalf("warned %q", msg)
		}
	case err := <-done:
		t.Fatalf("AwaitTopics returned %v with no broker", err)
	case <-ctx.Done():
		t.Fatal("no warning while the broker was missing")
	}
	select {
	case err := <-done:
		t.Fatalf("AwaitTopics returned %v before the broker started", err)
	default:
	}
	b, err := StartBroker(BrokerConfig{Listen: addr, DataDir: t.TempDir(), Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := <-done; err != nil {
		t.Fatalf("AwaitTopics once the broker is up: %v", err)
	}
	ps, err := c.Partitions(ctx, "t.await")
	if err != nil || len(ps) != 3 {
		t.Fatalf("t.await has partitions %v (%v), want 3", ps, err)
	}
}

func TestRetriable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("bad config"), false},
		{fmt.Errorf("create topics: %w", kgo.BrokerNotAvailable), true},
		{kgo.LeaderNotAvailable, true},
		{kgo.InvalidPartitionNumber, false},
		{kgo.PolicyViolation, false},
		{fmt.Errorf("create topics: %w", refused), true},
		{io.EOF, true},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, false},
		{errors.Join(kgo.BrokerNotAvailable, kgo.LeaderNotAvailable), true},
		{errors.Join(kgo.BrokerNotAvailable, kgo.InvalidTopic), false},
	} {
		if got := Retriable(c.err); got != c.want {
			t.Errorf("Retriable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// notify is a slog handler that sends each message at or above level.
type notify struct {
	level slog.Level
	to    chan string
}

func (n *notify) Enabled(_ context.Context, l slog.Level) bool { return l >= n.level }
func (n *notify) Handle(_ context.Context, r slog.Record) error {
	select {
	case n.to <- r.Message:
	default:
	}
	return nil
}
func (n *notify) WithAttrs([]slog.Attr) slog.Handler { return n }
func (n *notify) WithGroup(string) slog.Handler      { return n }
