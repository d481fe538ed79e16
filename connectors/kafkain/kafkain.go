// Package kafkain consumes a topic of another Kafka cluster — or of the
// pipeline's own — whose records are in a platform's own JSON shape; the
// source's `map:` block (package connectors/mapping) turns them into the
// schema's form.
//
// It reads without a consumer group: the cursor is the next offset of every
// partition ("0:120,1:98,2:0"), kept by the runner in
// yiwang.connector-state like any source's, so nothing is committed on the
// platform's cluster and a source can move to another machine. A poll
// gathers up to page_size records across the partitions that have some
// waiting (the page split evenly between them), each partition's records in
// offset order; when none has, it waits up to max_wait for new ones.
//
//   - A source without a cursor begins at the first offset of every
//     partition (start: earliest) or at the end (start: latest); a partition
//     added later begins at its first offset.
//   - A cursor below a partition's first offset (retention deleted records
//     before they were read) jumps to the first offset; the loss is logged
//     with its count and added to Lost. A cursor past the end (the topic was
//     recreated) starts the partition again from its first offset.
//   - Every message becomes a record, also one whose value is not JSON: the
//     runner dead-letters it with its position topic/partition@offset.
//
// The package exports no metrics of its own; the runner counts polls,
// records and dead letters.
package kafkain

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/internal/diag"
	"github.com/yiwang-gov/yiwang/internal/kafka"
)

// SampleConfig is sample.yaml: a documented source of this type, shown
// verbatim in README.md.
//
//go:embed sample.yaml
var SampleConfig string

// Config configures one topic. The zero value of every optional field means
// its default.
type Config struct {
	// Brokers are the bootstrap addresses (host:port) of the platform's
	// cluster; empty means the pipeline's own cluster.
	Brokers []string `yaml:"brokers"`
	// Topic is the platform's topic.
	Topic string `yaml:"topic"`
	// Start is where a source without a cursor begins: earliest (default)
	// or latest.
	Start string `yaml:"start"`
	// PageSize is the most records one poll returns (default 1000).
	PageSize int `yaml:"page_size"`
	// MaxWait is how long a poll waits for records when none is waiting
	// (default 500ms).
	MaxWait time.Duration `yaml:"max_wait"`
}

// The start positions.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// maxWaitLimit keeps a poll's wait under the Kafka client's request
// timeout.
const maxWaitLimit = 5 * time.Second

// FieldError is one problem with a Config field.
type FieldError = diag.FieldError

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// Validate reports every problem, naming the field and what to change.
func (c *Config) Validate() []FieldError {
	var out []FieldError
	for i, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			out = append(out, FieldError{Field: "brokers." + strconv.Itoa(i), Msg: fmt.Sprintf("must be host:port, got %q", b)})
		}
	}
	switch {
	case c.Topic == "":
		out = append(out, FieldError{Field: "topic", Msg: "is required: the platform's topic to read"})
	case !topicName.MatchString(c.Topic) || c.Topic == "." || c.Topic == "..":
		out = append(out, FieldError{Field: "topic", Msg: fmt.Sprintf("%q is not a Kafka topic name (letters, digits, '.', '_', '-')", c.Topic)})
	}
	if c.Start != "" && c.Start != StartEarliest && c.Start != StartLatest {
		out = append(out, FieldError{Field: "start", Msg: fmt.Sprintf("must be earliest or latest, got %q", c.Start)})
	}
	if c.PageSize < 0 || c.PageSize > 100000 {
		out = append(out, FieldError{Field: "page_size", Msg: fmt.Sprintf("must be 1-100000, got %d", c.PageSize)})
	}
	if c.MaxWait < 0 || c.MaxWait > maxWaitLimit {
		out = append(out, FieldError{Field: "max_wait", Msg: fmt.Sprintf("must be between 1ms and %s, got %q", maxWaitLimit, c.MaxWait)})
	}
	return out
}

func (c *Config) defaults(brokers []string) {
	if len(c.Brokers) == 0 {
		c.Brokers = brokers
	}
	if c.Start == "" {
		c.Start = StartEarliest
	}
	if c.PageSize == 0 {
		c.PageSize = 1000
	}
	if c.MaxWait == 0 {
		c.MaxWait = 500 * time.Millisecond
	}
}

// Source reads one topic.
type Source struct {
	// Log receives the warning when records were deleted before they were
	// read (nil: slog.Default()).
	Log *slog.Logger

	cfg    Config
	client *kafka.Client

	mu   sync.Mutex
	lost int64
	// counted remembers the losses already counted, by partition and the
	// stored offset they were found at: until a record moves the stored
	// cursor on, every poll finds the same gap, which is one loss.
	counted map[int]int64
	latest  Cursor // where start: latest put a source without a cursor
	turn    int    // rotates who gets the page's remainder
}

var _ connectors.Source = (*Source)(nil)

// New returns a source for cfg; defaultBrokers is the pipeline's own
// cluster, used when cfg names none. It does no I/O.
func New(cfg Config, defaultBrokers []string) (*Source, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("kafkain %s: %s", errs[0].Field, errs[0].Msg)
	}
	cfg.defaults(defaultBrokers)
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafkain: no brokers: set kafka.brokers or run with the pipeline's cluster")
	}
	return &Source{cfg: cfg, client: kafka.NewClient(cfg.Brokers)}, nil
}

// Close releases the source's idle connections.
func (s *Source) Close() error { s.client.Close(); return nil }

// Lost returns how many records retention deleted before this source read
// them, since it started.
func (s *Source) Lost() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// Cursor is the next offset to read of each partition.
type Cursor map[int]int64

// ParseCursor decodes "0:120,1:98"; "" is a source without a cursor.
func ParseCursor(s string) (Cursor, error) {
	c := Cursor{}
	if s == "" {
		return c, nil
	}
	for _, part := range strings.Split(s, ",") {
		ps, offs, ok := strings.Cut(part, ":")
		p, err1 := strconv.Atoi(ps)
		o, err2 := strconv.ParseInt(offs, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
			return nil, fmt.Errorf("cursor %q: want partition:offset pairs such as 0:120,1:98", s)
		}
		if _, dup := c[p]; dup {
			return nil, fmt.Errorf("cursor %q: partition %d appears twice", s, p)
		}
		c[p] = o
	}
	return c, nil
}

// String writes the cursor with partitions in order, so that one position
// has one spelling.
func (c Cursor) String() string {
	var b strings.Builder
	for i, p := range slices.Sorted(maps.Keys(c)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(p))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(c[p], 10))
	}
	return b.String()
}

// Poll returns the records after cursor, at most page_size. It retries a
// failed read twice within ctx before it gives up; an error means nothing
// of the poll may be used.
func (s *Source) Poll(ctx context.Context, cursor string) ([]connectors.Record, bool, error) {
	cur, err := ParseCursor(cursor)
	if err != nil {
		return nil, false, err
	}
	var last error
	for attempt := range 3 {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt) * 200 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, false, ctx.Err()
			case <-t.C:
			}
		}
		recs, more, err := s.poll(ctx, maps.Clone(cur), cursor == "")
		if err == nil || ctx.Err() != nil {
			return recs, more, err
		}
		last = err
	}
	return nil, false, last
}

func (s *Source) poll(ctx context.Context, pos Cursor, fresh bool) ([]connectors.Record, bool, error) {
	topic := s.cfg.Topic
	parts, err := s.client.Partitions(ctx, topic)
	if err != nil {
		return nil, false, err
	}
	slices.Sort(parts)
	offs, err := s.client.PartitionOffsets(ctx, map[string][]int{topic: parts})
	if err != nil {
		return nil, false, err
	}
	bounds := offs[topic]
	s.mu.Lock()
	if fresh && s.cfg.Start == StartLatest {
		// The end is resolved once and remembered, so that the records
		// that arrive before the first page is stored are not skipped.
		if s.latest == nil {
			s.latest = Cursor{}
			for _, p := range parts {
				s.latest[p] = bounds[p].Next
			}
		}
		maps.Copy(pos, s.latest)
	}
	s.mu.Unlock()
	for _, p := range parts {
		s.position(pos, p, bounds[p])
	}

	// Partitions with records waiting share the page; when none has any,
	// every partition waits up to max_wait for new ones.
	var targets []int
	for _, p := range parts {
		if pos[p] < bounds[p].Next {
			targets = append(targets, p)
		}
	}
	if len(targets) == 0 {
		targets = parts
	}
	quota := s.share(len(targets))
	type result struct {
		f   kafka.Fetched
		err error
	}
	results := make([]result, len(targets))
	var wg sync.WaitGroup
	for i, p := range targets {
		if quota[i] == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := s.client.Fetch(ctx, topic, p, pos[p], kafka.FetchOptions{MaxRecords: quota[i], MaxWait: s.cfg.MaxWait})
			results[i] = result{f, err}
		}()
	}
	wg.Wait()

	var recs []connectors.Record
	more := false
	running := maps.Clone(pos)
	for i, p := range targets {
		r := results[i]
		switch {
		case quota[i] == 0:
			more = true
			continue
		case errors.Is(r.err, kafka.ErrOffsetOutOfRange):
			more = true // retention moved the start meanwhile: the next poll jumps
			continue
		case r.err != nil:
			return nil, false, r.err
		}
		for _, m := range r.f.Messages {
			running[p] = m.Offset + 1
			recs = append(recs, connectors.Record{
				Raw:      m.Value,
				Cursor:   running.String(),
				Position: fmt.Sprintf("%s/%d@%d", topic, p, m.Offset),
			})
		}
		running[p] = max(running[p], r.f.Next)
		if running[p] < max(bounds[p].Next, r.f.HighWater) {
			more = true
		}
	}
	return recs, more, nil
}

// position puts partition p of pos inside its bounds: a new partition at
// its first offset, a position retention overtook at the first offset
// (counting the loss), one past the end (a recreated topic) at the first.
func (s *Source) position(pos Cursor, p int, b kafka.Offsets) {
	cur, ok := pos[p]
	switch {
	case !ok:
		pos[p] = b.First
	case cur < b.First:
		s.mu.Lock()
		prev, seen := s.counted[p]
		if s.counted == nil {
			s.counted = map[int]int64{}
		}
		s.counted[p] = b.First
		s.lost += b.First - max(cur, prev)
		s.mu.Unlock()
		if !seen || prev < b.First {
			s.log().Warn("records deleted by retention before they were read; skipping to the first offset held",
				"topic", s.cfg.Topic, "partition", p, "from", max(cur, prev), "to", b.First, "lost", b.First-max(cur, prev))
		}
		pos[p] = b.First
	case cur > b.Next:
		s.log().Warn("cursor past the end of the partition (was the topic recreated?); reading it from the first offset",
			"topic", s.cfg.Topic, "partition", p, "cursor", cur, "end", b.Next, "first", b.First)
		pos[p] = b.First
	}
}

// share splits the page between n partitions; the remainder goes to a
// different partition each poll, so that a page smaller than the
// partition count still reaches every partition in turn.
func (s *Source) share(n int) []int {
	s.mu.Lock()
	turn := s.turn
	s.turn++
	s.mu.Unlock()
	out := make([]int, n)
	for i := range out {
		out[i] = s.cfg.PageSize / n
	}
	for k := range s.cfg.PageSize % n {
		out[(turn+k)%n]++
	}
	return out
}

func (s *Source) log() *slog.Logger { return cmp.Or(s.Log, slog.Default()) }
