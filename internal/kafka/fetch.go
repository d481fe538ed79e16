package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	kgo "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// ErrOffsetOutOfRange means a Fetch asked for an offset the partition does
// not hold: below its first offset (retention deleted the records) or past
// its high watermark.
var ErrOffsetOutOfRange = errors.New("offset out of range")

// FetchOptions bound one Fetch. The zero value is safe.
type FetchOptions struct {
	// MaxRecords is the most records returned (default 1000).
	MaxRecords int
	// MaxWait is how long the broker waits for a first record when none is
	// at the offset yet (default 500ms; at most half the client timeout).
	MaxWait time.Duration
	// MaxBytes bounds the broker's answer (default 8 MiB). A record larger
	// than it is still returned whole, alone.
	MaxBytes int
}

// Fetched is what one Fetch read from a partition.
type Fetched struct {
	// Messages are in offset order, each at or after the offset asked for.
	Messages []Message
	// Next is the offset to fetch from next: just after the last message
	// returned, or past transaction markers, which take an offset but
	// carry no message; the offset asked for when nothing was read.
	Next int64
	// HighWater (the offset after the last record) and LogStart (the first
	// offset held) are the partition's bounds as the broker answered.
	HighWater, LogStart int64
}

// Fetch reads at most o.MaxRecords records of topic/partition starting at
// offset, without a consumer group: the caller owns the offset, and
// nothing is committed. When no record is at the offset yet, the broker
// waits up to o.MaxWait for one and then returns what it has, possibly
// nothing. An offset the partition does not hold gives an error wrapping
// ErrOffsetOutOfRange, with the partition's bounds filled in when the
// broker sent them. Fetch talks to the partition's leader and does not
// retry; callers poll again.
func (c *Client) Fetch(ctx context.Context, topic string, partition int, offset int64, o FetchOptions) (Fetched, error) {
	if o.MaxRecords <= 0 {
		o.MaxRecords = 1000
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 500 * time.Millisecond
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 8 << 20
	}
	out := Fetched{Next: offset}
	// Read committed: records of a transaction still open are not handed
	// out (the broker stops at the last stable offset). Records of an
	// aborted transaction still are, since kafka-go does not pass on the
	// aborted transactions' list; a platform's topic is expected to be
	// written without transactions.
	res, err := c.client.Fetch(ctx, &kgo.FetchRequest{Topic: topic, Partition: partition, Offset: offset,
		MinBytes: 1, MaxBytes: int64(o.MaxBytes), MaxWait: o.MaxWait, IsolationLevel: kgo.ReadCommitted})
	if err != nil {
		return out, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, offset, err)
	}
	out.HighWater, out.LogStart = res.HighWatermark, res.LogStartOffset
	if res.Error != nil {
		if errors.Is(res.Error, kgo.OffsetOutOfRange) {
			return out, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, offset, ErrOffsetOutOfRange)
		}
		return out, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, offset, res.Error)
	}
	// Read batch by batch rather than through RecordStream, which hides
	// the control batches of transactions: their offsets must be passed.
	batches := []protocol.RecordReader{res.Records}
	if s, ok := res.Records.(*protocol.RecordStream); ok {
		batches = s.Records
	}
	for _, b := range batches {
		if len(out.Messages) >= o.MaxRecords {
			break
		}
		_, control := b.(*protocol.ControlBatch)
		for len(out.Messages) < o.MaxRecords {
			r, err := b.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return out, fmt.Errorf("read records of %s/%d at %d: %w", topic, partition, offset, err)
			}
			if r.Offset < out.Next { // a batch may start before the offset asked for
				closeRecord(r)
				continue
			}
			out.Next = r.Offset + 1
			if control {
				closeRecord(r)
				continue
			}
			m, err := readRecord(topic, partition, r)
			if err != nil {
				return out, fmt.Errorf("read record %s/%d@%d: %w", topic, partition, r.Offset, err)
			}
			out.Messages = append(out.Messages, m)
		}
	}
	return out, nil
}

func readRecord(topic string, partition int, r *protocol.Record) (Message, error) {
	defer closeRecord(r)
	key, err := protocol.ReadAll(r.Key)
	if err != nil {
		return Message{}, err
	}
	value, err := protocol.ReadAll(r.Value)
	if err != nil {
		return Message{}, err
	}
	hs := make([]Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = Header{Key: h.Key, Value: append([]byte(nil), h.Value...)}
	}
	return Message{Topic: topic, Partition: partition, Offset: r.Offset, Key: key, Value: value, Headers: hs, Time: r.Time}, nil
}

func closeRecord(r *protocol.Record) {
	if r.Key != nil {
		_ = r.Key.Close()
	}
	if r.Value != nil {
		_ = r.Value.Close()
	}
}

// AddPartitions raises topic's partition count to total and returns once
// Partitions shows them (kafka-go refreshes its cached metadata every few
// seconds). Kafka cannot remove partitions; a total at or below the
// current count is an error.
func (c *Client) AddPartitions(ctx context.Context, topic string, total int) error {
	resp, err := c.client.CreatePartitions(ctx, &kgo.CreatePartitionsRequest{
		Topics: []kgo.TopicPartitionsConfig{{Name: topic, Count: int32(total)}}})
	if err != nil {
		return fmt.Errorf("add partitions to %s: %w", topic, err)
	}
	if err := resp.Errors[topic]; err != nil {
		return fmt.Errorf("add partitions to %s: %w", topic, err)
	}
	for {
		ps, err := c.Partitions(ctx, topic)
		if err == nil && len(ps) >= total {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("add partitions to %s: wait for the metadata: %w", topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
