// Package kafka is yiwang's only adapter to Kafka: the embedded
// Kafka-protocol broker (kfake, persisted in a data directory), topic
// administration, the producer with the delivery settings yiwang relies on,
// and partition readers for the loader. Every client talks Kafka over TCP
// through kafka-go, to the embedded broker exactly as to an Apache Kafka
// cluster.
//
// The package exports no metrics itself; callers count what they produce and
// consume.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"

	kgo "github.com/segmentio/kafka-go"
)

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Message is one Kafka record as yiwang sees it.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Time      time.Time
}

// Header returns the value of the first header named key.
func (m Message) Header(key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func toKafka(m Message) kgo.Message {
	hs := make([]kgo.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = kgo.Header{Key: h.Key, Value: h.Value}
	}
	return kgo.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: hs, Time: m.Time}
}

func fromKafka(m kgo.Message) Message {
	hs := make([]Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = Header{Key: h.Key, Value: h.Value}
	}
	return Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: hs, Time: m.Time}
}

// Topic is a topic yiwang creates if it is missing.
type Topic struct {
	Name       string
	Partitions int
	// Configs are topic configs such as segment.bytes, retention.ms,
	// retention.bytes and cleanup.policy.
	Configs map[string]string
}

// Client holds the bootstrap addresses of a cluster.
type Client struct {
	Brokers []string
	client  *kgo.Client
}

// NewClient returns a client of the cluster at brokers. Each client (and
// each Writer) has its own connections (kafka-go's default transport is one pool for the whole
// process), so that the connections a loader fetches on are not also the
// ones small requests go over: a broker keeps per connection a buffer as
// large as the largest answer it sent on it (the embedded one does).
func NewClient(brokers []string) *Client {
	return &Client{Brokers: brokers, client: &kgo.Client{Addr: kgo.TCP(brokers...), Timeout: 10 * time.Second, Transport: newTransport()}}
}

// newTransport is a client's or writer's own connection pool. Its view of
// the cluster (partitions, leaders) is refreshed every MetadataTTL: a
// partition added elsewhere is seen within that.
func newTransport() *kgo.Transport {
	return &kgo.Transport{Dial: (&net.Dialer{Timeout: 3 * time.Second}).DialContext, MetadataTTL: MetadataTTL}
}

// MetadataTTL is how often a client refreshes its view of the cluster.
const MetadataTTL = 6 * time.Second

// EnsureTopics creates the topics that do not exist yet. Existing topics
// are left as they are (their partition count is not changed).
func (c *Client) EnsureTopics(ctx context.Context, topics []Topic) error {
	req := &kgo.CreateTopicsRequest{}
	for _, t := range topics {
		tc := kgo.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: -1}
		for k, v := range t.Configs {
			tc.ConfigEntries = append(tc.ConfigEntries, kgo.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := c.client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kgo.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// AwaitTopics is EnsureTopics for a process that may start before its
// broker answers (a role run apart from it, started or restarted while the
// broker is): while the broker cannot be reached or is not ready (refused,
// reset, "broker not available", a leader or controller being chosen), it
// tries again, waiting 250 ms doubling to 5 s, until ctx ends. An error the
// broker means, such as a topic config it refuses, is returned at once.
func (c *Client) AwaitTopics(ctx context.Context, topics []Topic, log *slog.Logger) error {
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := c.EnsureTopics(ctx, topics)
		if err == nil || ctx.Err() != nil || !Retriable(err) {
			return err
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Warn("create the topics; retrying until the broker answers", "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (waiting for the broker: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// Retriable reports whether err is a passing state of the broker or of the
// connection to it, one that asking again later can get past: a network
// error, a request that timed out, or a Kafka error the protocol calls
// retriable (and "broker not available", which a broker answers while it
// starts). Every error of a joined error must be.
func Retriable(err error) bool {
	if err == nil {
		return false
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		for _, e := range errs {
			if !Retriable(e) {
				return false
			}
		}
		return len(errs) > 0
	}
	var ke kgo.Error
	if errors.As(err, &ke) {
		return ke.Temporary() || ke == kgo.BrokerNotAvailable || ke == kgo.RebalanceInProgress
	}
	// A network operation that failed, or one that timed out; not any
	// system error (syscall.Errno satisfies net.Error too).
	var op *net.OpError
	var ne net.Error
	return errors.As(err, &op) || (errors.As(err, &ne) && ne.Timeout()) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded)
}

// Partitions returns the partition ids of topic.
func (c *Client) Partitions(ctx context.Context, topic string) ([]int, error) {
	resp, err := c.client.Metadata(ctx, &kgo.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", topic, t.Error)
		}
		out := make([]int, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			out = append(out, p.ID)
		}
		return out, nil
	}
	return nil, fmt.Errorf("metadata of %s: topic not found", topic)
}

// Offsets are the first and next (high-watermark) offsets of a partition.
type Offsets struct{ First, Next int64 }

// PartitionOffsets returns the first and high-watermark offsets of every
// partition of each topic.
func (c *Client) PartitionOffsets(ctx context.Context, topics map[string][]int) (map[string]map[int]Offsets, error) {
	req := &kgo.ListOffsetsRequest{Topics: map[string][]kgo.OffsetRequest{}}
	for t, ps := range topics {
		for _, p := range ps {
			req.Topics[t] = append(req.Topics[t], kgo.FirstOffsetOf(p), kgo.LastOffsetOf(p))
		}
	}
	resp, err := c.client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	out := map[string]map[int]Offsets{}
	for t, pos := range resp.Topics {
		out[t] = map[int]Offsets{}
		for _, po := range pos {
			if po.Error != nil {
				return nil, fmt.Errorf("list offsets of %s/%d: %w", t, po.Partition, po.Error)
			}
			out[t][po.Partition] = Offsets{First: po.FirstOffset, Next: po.LastOffset}
		}
	}
	return out, nil
}

// CommitGroupOffsets records next offsets for group as a simple
// (member-less) consumer group, so that lag tools such as Burrow see the
// loader's progress. yiwang itself never reads them back.
func (c *Client) CommitGroupOffsets(ctx context.Context, group string, next map[string]map[int]int64) error {
	req := &kgo.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kgo.OffsetCommit{}}
	for t, ps := range next {
		for p, off := range ps {
			req.Topics[t] = append(req.Topics[t], kgo.OffsetCommit{Partition: p, Offset: off})
		}
	}
	resp, err := c.client.OffsetCommit(ctx, req)
	if err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", group, err)
	}
	for t, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return fmt.Errorf("commit offset of group %s %s/%d: %w", group, t, p.Partition, p.Error)
			}
		}
	}
	return nil
}

// ReadAll reads every record of topic from the first offset to the high
// watermark read at the call, on all partitions, in partition order.
func (c *Client) ReadAll(ctx context.Context, topic string) ([]Message, error) {
	return c.ReadTail(ctx, topic, 0)
}

// Close releases idle connections.
func (c *Client) Close() {
	if t, ok := c.client.Transport.(*kgo.Transport); ok && t != nil {
		t.CloseIdleConnections()
	}
}

// WriterOptions tune a Writer. The zero value is safe.
type WriterOptions struct {
	// BatchSize is the most records sent in one produce request per
	// partition (default 1000).
	BatchSize int
	// BatchTimeout bounds how long a partial batch waits (default 5ms).
	BatchTimeout time.Duration
	// Compress enables lz4 compression.
	Compress bool
}

// batchBytes is the writer's BatchBytes: kafka-go refuses a record whose
// size (MessageBytes) exceeds it before sending anything.
const batchBytes = 1 << 20

// MaxMessageBytes is the most one record may weigh (MessageBytes) to be
// produced: the writer's batch limit (1 MiB, which kafka-go enforces before
// sending) less room for the record batch's framing, so that a record of
// this size alone also passes a broker's default message.max.bytes
// (1 MiB + 12 bytes). A larger record must not be written: Write refuses it.
const MaxMessageBytes = batchBytes - 1<<10

// MessageBytes returns the size kafka-go counts for m against its batch
// limit: key, value, headers and their length prefixes.
func MessageBytes(m Message) int {
	n := 4 + 1 + 1 + 4 + len(m.Key) + 4 + len(m.Value) + 8 + varintLen(len(m.Headers))
	for _, h := range m.Headers {
		n += varintLen(len(h.Key)) + len(h.Key) + varintLen(len(h.Value)) + len(h.Value)
	}
	return n
}

// varintLen is the length of n as a zig-zag varint.
func varintLen(n int) int {
	u := uint64(n) << 1
	l := 1
	for u >= 0x80 {
		u >>= 7
		l++
	}
	return l
}

// ErrTooLarge is what a record too large for Kafka fails with (errors.Is).
var ErrTooLarge = errors.New("record too large for Kafka")

// TooLargeError is returned by Write when records were refused for their
// size: by the writer before sending (larger than the batch limit; nothing
// was sent) or by the broker (MESSAGE_TOO_LARGE against its
// message.max.bytes; the rest may have been stored). A broker refuses a
// whole batch of a partition, so Indexes may name records that would fit
// alone: write those one at a time to learn which is too large.
type TooLargeError struct {
	// Indexes are the positions in the Write call of the refused records.
	Indexes []int
	// Total counts the records of the Write call.
	Total int
	// Unsent are the positions of the other records not stored: all of
	// them when the writer refused before sending, else those that failed
	// for another reason, the first of which is Other. The records in
	// neither list were stored.
	Unsent []int
	Other  error
}

func (e *TooLargeError) Error() string {
	msg := fmt.Sprintf("produce: %d of %d records too large for Kafka (message.max.bytes)", len(e.Indexes), e.Total)
	if e.Other != nil {
		msg += fmt.Sprintf("; others failed: %v", e.Other)
	}
	return msg
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// Writer produces records. Every write waits for acknowledgement by all
// in-sync replicas (acks=all) and keys are hashed to partitions, so one key
// keeps its order. kafka-go has no idempotent producer: a retried write can
// store a record twice, which the loader's upsert absorbs.
type Writer struct {
	w *kgo.Writer
}

// NewWriter returns a producer. Each record names its topic.
func NewWriter(brokers []string, o WriterOptions) *Writer {
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = 5 * time.Millisecond
	}
	w := &kgo.Writer{
		Addr:            kgo.TCP(brokers...),
		Transport:       newTransport(),
		Balancer:        &kgo.Hash{},
		RequiredAcks:    kgo.RequireAll,
		BatchSize:       o.BatchSize,
		BatchBytes:      batchBytes, // ≤ the broker's message.max.bytes
		BatchTimeout:    o.BatchTimeout,
		MaxAttempts:     10,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 2 * time.Second,
		ReadTimeout:     10 * time.Second,
		WriteTimeout:    10 * time.Second,
	}
	if o.Compress {
		w.Compression = kgo.Lz4
	}
	return &Writer{w: w}
}

// Write produces msgs and returns once every one is acknowledged, or an
// error. On error some records may have been stored: the caller must not
// advance any cursor past them and should write them again.
func (w *Writer) Write(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	km := make([]kgo.Message, len(msgs))
	for i, m := range msgs {
		km[i] = toKafka(m)
	}
	if err := w.w.WriteMessages(ctx, km...); err != nil {
		var tl kgo.MessageTooLargeError
		if errors.As(err, &tl) {
			// kafka-go names only the first; nothing was sent.
			e := &TooLargeError{Total: len(msgs)}
			for i, m := range msgs {
				if MessageBytes(m) > batchBytes {
					e.Indexes = append(e.Indexes, i)
				} else {
					e.Unsent = append(e.Unsent, i)
				}
			}
			return e
		}
		var we kgo.WriteErrors
		if errors.As(err, &we) {
			if e := tooLarge(we); e != nil {
				return e
			}
			// The joined text of many identical errors can be megabytes.
			return fmt.Errorf("produce: %d of %d records failed, first: %w", we.Count(), len(msgs), firstErr(we))
		}
		return fmt.Errorf("produce: %w", err)
	}
	return nil
}

// tooLarge returns the records the broker refused for their size, or nil
// when it refused none.
func tooLarge(we kgo.WriteErrors) *TooLargeError {
	e := &TooLargeError{Total: len(we)}
	for i, err := range we {
		switch {
		case err == nil:
		case errors.Is(err, kgo.MessageSizeTooLarge):
			e.Indexes = append(e.Indexes, i)
		default:
			e.Unsent = append(e.Unsent, i)
			if e.Other == nil {
				e.Other = err
			}
		}
	}
	if len(e.Indexes) == 0 {
		return nil
	}
	return e
}

func firstErr(we kgo.WriteErrors) error {
	for _, e := range we {
		if e != nil {
			return e
		}
	}
	return nil
}

// Close flushes and closes the writer.
func (w *Writer) Close() error { return w.w.Close() }

// ReaderOptions tune a PartitionReader. The zero value is safe.
type ReaderOptions struct {
	// MaxWait bounds how long a fetch waits for new records (default 100ms).
	MaxWait time.Duration
	// MaxBytes bounds a fetch response (default 8 MiB).
	MaxBytes int
	// QueueCapacity is the number of fetched records buffered (default 10000).
	QueueCapacity int
}

// PartitionReader reads one partition from a given offset, without a
// consumer group: the caller owns its offsets.
type PartitionReader struct {
	r *kgo.Reader
}

// NewPartitionReader returns a reader of topic/partition starting at offset.
func NewPartitionReader(brokers []string, topic string, partition int, offset int64, o ReaderOptions) *PartitionReader {
	if o.MaxWait <= 0 {
		o.MaxWait = 100 * time.Millisecond
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 8 << 20
	}
	if o.QueueCapacity <= 0 {
		o.QueueCapacity = 10000
	}
	r := kgo.NewReader(kgo.ReaderConfig{
		Brokers:        brokers,
		Topic:          topic,
		Partition:      partition,
		MinBytes:       1,
		MaxBytes:       o.MaxBytes,
		MaxWait:        o.MaxWait,
		QueueCapacity:  o.QueueCapacity,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		MaxAttempts:    1 << 30,
		ErrorLogger: kgo.LoggerFunc(func(f string, a ...any) {
			slog.Debug("kafka reader: "+fmt.Sprintf(f, a...), "topic", topic, "partition", partition)
		}),
	})
	if offset >= 0 {
		_ = r.SetOffset(offset) // cannot fail without a group
	} else {
		_ = r.SetOffset(kgo.FirstOffset)
	}
	return &PartitionReader{r: r}
}

// Fetch blocks until the next record arrives or ctx ends.
func (r *PartitionReader) Fetch(ctx context.Context) (Message, error) {
	m, err := r.r.FetchMessage(ctx)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Message{}, fmt.Errorf("reader closed: %w", err)
		}
		return Message{}, err
	}
	return fromKafka(m), nil
}

// Lag returns the records between the reader's position and the high
// watermark as last seen by the reader.
func (r *PartitionReader) Lag() int64 { return r.r.Stats().Lag }

// Close stops the reader.
func (r *PartitionReader) Close() error { return r.r.Close() }

// Ping checks that a broker answers.
func Ping(ctx context.Context, brokers []string) error {
	var d net.Dialer
	var errs []error
	for _, b := range brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			return conn.Close()
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("no broker answers: %w", errors.Join(errs...))
}

// ReadTail reads, on every partition of topic, at most the newest max
// records up to the high watermark read at the call.
func (c *Client) ReadTail(ctx context.Context, topic string, max int64) ([]Message, error) {
	parts, err := c.Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	offs, err := c.PartitionOffsets(ctx, map[string][]int{topic: parts})
	if err != nil {
		return nil, err
	}
	var out []Message
	for _, p := range parts {
		o := offs[topic][p]
		from := o.First
		if max > 0 && o.Next-from > max {
			from = o.Next - max
		}
		if o.Next <= from {
			continue
		}
		r := NewPartitionReader(c.Brokers, topic, p, from, ReaderOptions{})
		for {
			m, err := r.Fetch(ctx)
			if err != nil {
				_ = r.Close()
				return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
			}
			out = append(out, m)
			if m.Offset+1 >= o.Next {
				break
			}
		}
		if err := r.Close(); err != nil {
			return nil, fmt.Errorf("close reader of %s/%d: %w", topic, p, err)
		}
	}
	return out, nil
}
