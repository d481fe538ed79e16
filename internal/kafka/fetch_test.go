package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestFetch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := startBroker(t, t.TempDir())
	defer b.Close()
	c := NewClient([]string{b.Addr()})
	defer c.Close()
	// Small segments and a byte limit so that retention can delete the
	// oldest records.
	if err := c.EnsureTopics(ctx, []Topic{{Name: "t.fetch", Partitions: 1,
		Configs: map[string]string{"segment.bytes": "4096", "retention.bytes": "8192"}}}); err != nil {
		t.Fatal(err)
	}
	w := NewWriter([]string{b.Addr()}, WriterOptions{BatchSize: 10})
	defer func() { _ = w.Close() }()
	write := func(from, to int) {
		for i := from; i < to; i += 10 { // several batches
			var msgs []Message
			for j := i; j < min(i+10, to); j++ {
				msgs = append(msgs, Message{Topic: "t.fetch", Key: []byte("k"), Value: []byte(fmt.Sprintf("v%03d %s", j, strings.Repeat("x", 100))),
					Headers: []Header{{Key: "h", Value: []byte("1")}}})
			}
			if err := w.Write(ctx, msgs...); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, 50)

	got, err := c.Fetch(ctx, "t.fetch", 0, 5, FetchOptions{MaxRecords: 12})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 12 || got.Messages[0].Offset != 5 || got.Messages[11].Offset != 16 || got.Next != 17 || got.HighWater != 50 {
		t.Fatalf("fetched %d records from %d, next %d, high water %d", len(got.Messages), got.Messages[0].Offset, got.Next, got.HighWater)
	}
	m := got.Messages[0]
	if !strings.HasPrefix(string(m.Value), "v005 ") || string(m.Key) != "k" || m.Header("h") != "1" || m.Topic != "t.fetch" || m.Time.IsZero() {
		t.Fatalf("record %+v", m)
	}
	for i, m := range got.Messages {
		if m.Offset != int64(5+i) {
			t.Fatalf("offsets out of order: %d at %d", m.Offset, i)
		}
	}

	// At the end: the broker waits, then answers with nothing.
	got, err = c.Fetch(ctx, "t.fetch", 0, 50, FetchOptions{MaxWait: 100 * time.Millisecond})
	if err != nil || len(got.Messages) != 0 || got.Next != 50 {
		t.Fatalf("at the end: %d records, next %d, err %v", len(got.Messages), got.Next, err)
	}
	// A record that arrives during the wait is returned.
	done := make(chan Fetched)
	go func() {
		f, _ := c.Fetch(ctx, "t.fetch", 0, 50, FetchOptions{MaxWait: 4 * time.Second})
		done <- f
	}()
	time.Sleep(200 * time.Millisecond)
	write(50, 51)
	if f := <-done; len(f.Messages) != 1 || f.Messages[0].Offset != 50 {
		t.Fatalf("waiting fetch got %d records", len(f.Messages))
	}

	if _, err := c.Fetch(ctx, "t.fetch", 0, 99, FetchOptions{}); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("past the end: %v, want ErrOffsetOutOfRange", err)
	}

	// Retention deletes the oldest segments: offset 0 is gone.
	write(51, 200)
	b.ApplyRetention()
	offs, err := c.PartitionOffsets(ctx, map[string][]int{"t.fetch": {0}})
	if err != nil {
		t.Fatal(err)
	}
	first := offs["t.fetch"][0].First
	if first == 0 {
		t.Fatal("retention deleted nothing")
	}
	_, err = c.Fetch(ctx, "t.fetch", 0, 0, FetchOptions{})
	if !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("below the log start: %v, want ErrOffsetOutOfRange", err)
	}
	got, err = c.Fetch(ctx, "t.fetch", 0, first, FetchOptions{MaxRecords: 1})
	if err != nil || len(got.Messages) != 1 || got.Messages[0].Offset != first || got.LogStart != first {
		t.Fatalf("at the log start %d: %+v %v", first, got, err)
	}
}

func TestAddPartitions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := startBroker(t, t.TempDir())
	defer b.Close()
	c := NewClient([]string{b.Addr()})
	defer c.Close()
	if err := c.EnsureTopics(ctx, []Topic{{Name: "t.grow", Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPartitions(ctx, "t.grow", 3); err != nil {
		t.Fatal(err)
	}
	ps, err := c.Partitions(ctx, "t.grow")
	if err != nil || len(ps) != 3 {
		t.Fatalf("partitions %v, %v", ps, err)
	}
	if err := c.AddPartitions(ctx, "t.grow", 2); err == nil {
		t.Fatal("shrinking must fail")
	}
}
