package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/yiwang-gov/yiwang/internal/deadletter"

	"github.com/yiwang-gov/yiwang/connectors/mapping"
	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/schemas"
)

// Producer writes records to Kafka and returns once all are acknowledged.
type Producer interface {
	Write(ctx context.Context, msgs ...kafka.Message) error
}

// Runner drives one source.
type Runner struct {
	Name     string
	Schema   *schemas.Schema
	Source   Source
	Every    time.Duration
	Producer Producer
	State    *State
	Areas    schemas.Areas
	// Map turns records in a platform's own shape into the schema's
	// source form; nil means the records already are in it.
	Map *mapping.Mapping
	// Key makes the pseudonyms of personal fields; required when the
	// schema has x-pii hmac fields.
	Key     *pii.Key
	Metrics *metrics.Metrics
	Now     func() time.Time
	Log     *slog.Logger

	newest time.Time
}

// Run polls until ctx ends. It returns nil on cancellation; other errors are
// retried forever with backoff (a source that is down must not stop the
// process, only show up in the metrics).
func (r *Runner) Run(ctx context.Context) error {
	cursor := r.State.Get(r.Name)
	var deadAtCursor map[uint64]bool // refused records already sent at this cursor
	failures := 0
	for ctx.Err() == nil {
		recs, more, err := r.Source.Poll(ctx, cursor)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			r.Metrics.ConnectorPolls.WithLabelValues(r.Name, "error").Inc()
			r.Log.Warn("poll failed", "source", r.Name, "err", err, "failures", failures)
			sleep(ctx, backoff(failures, r.Every))
			continue
		}
		failures = 0
		cursorBefore := cursor
		out, dead, newest, outcomes := r.convert(recs, cursor, deadAtCursor)
		written, err := r.produce(ctx, recs, out, outcomes)
		if err != nil {
			return nil // ctx ended; nothing advanced
		}
		r.count(written)
		if o, ok := r.Source.(Outcomes); ok {
			for i, rec := range recs {
				if outcomes[i] != errSkipped {
					o.Outcome(rec, outcomes[i])
				}
			}
		}
		now := r.Now()
		if len(recs) > 0 {
			last := recs[len(recs)-1].Cursor
			if last != cursor {
				if err := r.saveCursor(ctx, last); err != nil {
					return nil
				}
				cursor, deadAtCursor = last, nil
			}
			for h := range dead {
				if deadAtCursor == nil {
					deadAtCursor = map[uint64]bool{}
				}
				deadAtCursor[h] = true
			}
			r.Metrics.ConnectorLastProduce.WithLabelValues(r.Name).Set(float64(now.UnixMilli()) / 1000)
		}
		if newest.After(r.newest) {
			r.newest = newest
			r.Metrics.SourceNewestEvent.WithLabelValues(r.Name).Set(float64(newest.UnixMilli()) / 1000)
		}
		r.Metrics.ConnectorPolls.WithLabelValues(r.Name, "ok").Inc()
		if l, ok := r.Source.(interface{ Lost() int64 }); ok {
			r.Metrics.ConnectorLost.WithLabelValues(r.Name).Set(float64(l.Lost()))
		}
		r.Metrics.ConnectorLastPoll.WithLabelValues(r.Name).Set(float64(now.UnixMilli()) / 1000)
		// A page that did not move the cursor (records without a position
		// of their own) would come back at once: wait as if caught up.
		if !more || len(recs) > 0 && recs[len(recs)-1].Cursor == cursorBefore {
			sleep(ctx, r.Every)
		}
	}
	return nil
}

// message is one message of a page and the record it came from.
type message struct {
	kafka.Message
	rec int // index of the record in the page
}

// convert validates each record and builds the messages for its topic or
// the dead-letter topic. A refused record that lies at the unchanged cursor
// (it carries no position of its own, so the next poll returns it again) is
// sent only once. A record too large for Kafka becomes a dead letter with
// reason too_large and a cut payload.
func (r *Runner) convert(recs []Record, cursor string, deadAtCursor map[uint64]bool) ([]message, map[uint64]bool, time.Time, []error) {
	msgs := make([]message, 0, len(recs))
	outcomes := make([]error, len(recs))
	dead := map[uint64]bool{}
	var newest time.Time
	now := r.Now()
	for i, rec := range recs {
		var obj, src map[string]any // src: the platform's shape, when mapped
		err := rec.Refused
		if err == nil && len(rec.Raw) > kafka.MaxMessageBytes {
			err = tooLarge(len(rec.Raw)) // nor is it worth validating
		}
		if err == nil {
			obj, err = schemas.Decode(rec.Raw)
		}
		if err == nil && r.Map != nil {
			src = obj
			obj, err = r.Map.Apply(src)
		}
		if err == nil {
			err = Check(r.Schema, obj, r.Areas, now)
		}
		if err == nil {
			_, err = protect(r.Schema, r.Key, obj, now)
		}
		var m kafka.Message
		if err == nil {
			value, merr := marshal(obj)
			if merr != nil {
				outcomes[i] = errSkipped
				continue // cannot happen for a decoded object
			}
			m = kafka.Message{
				Topic:   r.Schema.Topic,
				Key:     []byte(r.Schema.KeyOf(obj)),
				Value:   value,
				Headers: []kafka.Header{{Key: deadletter.HeaderSource, Value: []byte(r.Name)}},
				Time:    now,
			}
			if n := kafka.MessageBytes(m); n > kafka.MaxMessageBytes {
				err, obj, src = tooLarge(n), nil, nil
			}
		}
		if err != nil {
			if rec.Cursor == cursor {
				h := hash(rec.Raw)
				if deadAtCursor[h] {
					outcomes[i] = errSkipped
					continue
				}
				dead[h] = true
			}
			m = r.deadLetter(rec, src, obj, err, now)
			outcomes[i] = err
		} else if t := r.Schema.EventTimeOf(obj); t.After(newest) {
			newest = t
		}
		msgs = append(msgs, message{m, i})
	}
	return msgs, dead, newest, outcomes
}

// tooLarge is why a record of n bytes (as read, or as produced) is not
// produced.
func tooLarge(n int) error {
	return &schemas.RecordError{Reason: schemas.ReasonTooLarge,
		Msg: fmt.Sprintf("the record is %d bytes, more than Kafka takes (%d); shorten its longest values at the source", n, kafka.MaxMessageBytes)}
}

// count updates the record and dead-letter metrics for messages Kafka
// acknowledged.
func (r *Runner) count(msgs []message) {
	for _, m := range msgs {
		if m.Topic != deadletter.Topic {
			r.Metrics.ConnectorRecords.WithLabelValues(r.Name, "produced").Inc()
			continue
		}
		r.Metrics.ConnectorRecords.WithLabelValues(r.Name, "deadletter").Inc()
		r.Metrics.DeadLetters.WithLabelValues("connector", r.Name, r.Schema.Name, m.Header(deadletter.HeaderCode)).Inc()
	}
}

// deadLetter builds the dead letter of a refused record. A mapped source's
// keeps the platform's shape — the clerk fixes the record there — but only
// what the mapping reads, without what feeds personal fields
// (Mapping.Evidence); values it copies into fields the schema does not mark
// personal are kept as they are, anything else is masked (deadletter.Scrub's
// rules for unknown fields). A payload too large for Kafka is cut
// (CutPayload).
func (r *Runner) deadLetter(rec Record, src, obj map[string]any, err error, now time.Time) kafka.Message {
	var m kafka.Message
	if r.Map == nil {
		m = deadletter.New("connector", r.Name, r.Schema.Name, rec.Position, deadletter.Scrub(r.Schema, rec.Raw, obj), err, now)
	} else {
		var payload []byte
		if src != nil {
			payload = deadletter.Encode(r.Map.MaskedEvidence(src, deadletter.ScrubValue))
		} else {
			payload = deadletter.Scrub(nil, rec.Raw, nil) // not JSON, or not read: masked as unknown
		}
		m = deadletter.New("connector", r.Name, r.Schema.Name, rec.Position, payload, err, now)
		m.Headers = append(m.Headers, kafka.Header{Key: deadletter.HeaderPayloadShape, Value: []byte(deadletter.ShapePlatform)})
	}
	if kafka.MessageBytes(m) > kafka.MaxMessageBytes || deadletter.Reason(err) == schemas.ReasonTooLarge {
		m = deadletter.Cut(m)
	}
	return m
}

// produce writes msgs, retrying until Kafka acknowledged all of them or ctx
// ends, and returns the messages written. Retried writes may store
// duplicates; the loader's upsert absorbs them. Records Kafka refuses for
// their size (a broker's message.max.bytes below ours) are found by writing
// the suspects one at a time; each refused one is replaced by a dead letter
// with reason too_large (its outcome too), so that a page never loops on
// them.
func (r *Runner) produce(ctx context.Context, recs []Record, msgs []message, outcomes []error) ([]message, error) {
	pending := msgs
	var written []message
	for attempt := 1; ; attempt++ {
		err := r.Producer.Write(ctx, plain(pending)...)
		if err == nil {
			return append(written, pending...), nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var tl *kafka.TooLargeError
		if errors.As(err, &tl) {
			var done []message
			pending, done = r.isolate(ctx, recs, pending, tl, outcomes)
			written = append(written, done...)
			if tl.Other == nil {
				continue
			}
		}
		r.Log.Warn("produce failed; retrying the page", "source", r.Name, "err", err, "attempt", attempt)
		sleep(ctx, backoff(attempt, time.Second))
	}
}

// isolate settles a size refusal: the messages stored are done; each
// suspect is written alone, and one refused alone is replaced by its
// too_large dead letter (a dead letter by its cut form) while one written
// alone is done. What is left stays pending.
func (r *Runner) isolate(ctx context.Context, recs []Record, pending []message, tl *kafka.TooLargeError, outcomes []error) ([]message, []message) {
	var done []message
	drop := map[int]bool{}
	keep := map[int]bool{}
	for _, i := range tl.Unsent {
		keep[i] = true
	}
	for _, i := range tl.Indexes {
		keep[i] = true
	}
	for i, m := range pending {
		if !keep[i] {
			done = append(done, m)
			drop[i] = true
		}
	}
	for _, i := range tl.Indexes {
		if i < 0 || i >= len(pending) {
			continue
		}
		m := pending[i]
		err := r.Producer.Write(ctx, m.Message)
		switch {
		case err == nil:
			done = append(done, m)
			drop[i] = true
		case errors.Is(err, kafka.ErrTooLarge):
			n := kafka.MessageBytes(m.Message)
			r.Log.Warn("kafka refused a record for its size; dead-lettering it", "source", r.Name, "bytes", n)
			if m.Topic == deadletter.Topic {
				pending[i].Message = deadletter.Cut(m.Message)
				continue
			}
			e := tooLarge(n)
			pending[i].Message = deadletter.Cut(r.deadLetter(recs[m.rec], nil, nil, e, m.Time))
			outcomes[m.rec] = e
		}
	}
	left := make([]message, 0, len(pending)-len(drop))
	for i, m := range pending {
		if !drop[i] {
			left = append(left, m)
		}
	}
	return left, done
}

func plain(msgs []message) []kafka.Message {
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		out[i] = m.Message
	}
	return out
}

func (r *Runner) saveCursor(ctx context.Context, cursor string) error {
	for attempt := 1; ; attempt++ {
		err := r.State.Put(ctx, r.Name, cursor)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.Log.Warn("save cursor failed; retrying", "source", r.Name, "err", err)
		sleep(ctx, backoff(attempt, time.Second))
	}
}

func marshal(obj map[string]any) ([]byte, error) { return json.Marshal(obj) }

func hash(b []byte) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64()
}

// backoff is capped exponential backoff with full jitter.
func backoff(attempt int, base time.Duration) time.Duration {
	if base <= 0 {
		base = time.Second
	}
	d := base << min(attempt, 6)
	d = min(d, time.Minute)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// State holds every source's cursor, backed by the compacted state topic.
type State struct {
	producer Producer
	mu       sync.Mutex
	cursors  map[string]string
	moved    map[string]time.Time // when each source's cursor last moved
}

type stateValue struct {
	Cursor    string    `json:"cursor"`
	UpdatedAt time.Time `json:"updated_at"`
}

// LoadState reads the state topic to its end; the last value per source wins.
func LoadState(ctx context.Context, c *kafka.Client, p Producer) (*State, error) {
	msgs, err := c.ReadAll(ctx, StateTopic)
	if err != nil {
		return nil, fmt.Errorf("read connector state: %w", err)
	}
	s := &State{producer: p, cursors: map[string]string{}, moved: map[string]time.Time{}}
	for _, m := range msgs {
		var v stateValue
		if m.Value == nil {
			delete(s.cursors, string(m.Key))
			delete(s.moved, string(m.Key))
			continue
		}
		if err := json.Unmarshal(m.Value, &v); err != nil {
			return nil, fmt.Errorf("connector state of %s at offset %d: %w", m.Key, m.Offset, err)
		}
		s.cursors[string(m.Key)] = v.Cursor
		s.moved[string(m.Key)] = v.UpdatedAt
	}
	return s, nil
}

// MovedAt returns when a source's cursor last moved: when it last handed
// over new records (zero if never).
func (s *State) MovedAt(source string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.moved[source]
}

// Get returns a source's cursor, "" if it has none.
func (s *State) Get(source string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursors[source]
}

// Put stores a source's cursor and returns once Kafka acknowledged it.
func (s *State) Put(ctx context.Context, source, cursor string) error {
	b, _ := json.Marshal(stateValue{Cursor: cursor, UpdatedAt: time.Now().UTC()})
	if err := s.producer.Write(ctx, kafka.Message{Topic: StateTopic, Key: []byte(source), Value: b}); err != nil {
		return err
	}
	s.mu.Lock()
	s.cursors[source] = cursor
	if s.moved != nil {
		s.moved[source] = time.Now().UTC()
	}
	s.mu.Unlock()
	return nil
}
