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
		msgs, dead, newest, outcomes := r.convert(recs, cursor, deadAtCursor)
		if err := r.produce(ctx, msgs); err != nil {
			return nil // ctx ended; nothing advanced
		}
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

// convert validates each record and builds the messages for its topic or
// the dead-letter topic. A refused record that lies at the unchanged cursor
// (it carries no position of its own, so the next poll returns it again) is
// sent only once.
func (r *Runner) convert(recs []Record, cursor string, deadAtCursor map[uint64]bool) ([]kafka.Message, map[uint64]bool, time.Time, []error) {
	msgs := make([]kafka.Message, 0, len(recs))
	outcomes := make([]error, len(recs))
	dead := map[uint64]bool{}
	var newest time.Time
	now := r.Now()
	for i, rec := range recs {
		obj, err := schemas.Decode(rec.Raw)
		var src map[string]any // the platform's shape, when mapped
		if err == nil && r.Map != nil {
			src = obj
			obj, err = r.Map.Apply(src)
		}
		if err == nil {
			normalizePersonal(r.Schema, obj, now)
			err = r.Schema.Validate(obj, r.Areas, now)
		}
		if err == nil {
			_, err = protect(r.Schema, r.Key, obj, now)
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
			var re *schemas.RecordError
			reason := schemas.ReasonSchema
			if errors.As(err, &re) {
				reason = re.Reason
			}
			r.Metrics.ConnectorRecords.WithLabelValues(r.Name, "deadletter").Inc()
			r.Metrics.DeadLetters.WithLabelValues("connector", r.Name, r.Schema.Name, reason).Inc()
			msgs = append(msgs, r.deadLetter(rec, src, obj, err, now))
			outcomes[i] = err
			continue
		}
		value, err := marshal(obj)
		if err != nil {
			outcomes[i] = errSkipped
			continue // cannot happen for a decoded object
		}
		if t := r.Schema.EventTimeOf(obj); t.After(newest) {
			newest = t
		}
		r.Metrics.ConnectorRecords.WithLabelValues(r.Name, "produced").Inc()
		msgs = append(msgs, kafka.Message{
			Topic:   r.Schema.Topic,
			Key:     []byte(r.Schema.KeyOf(obj)),
			Value:   value,
			Headers: []kafka.Header{{Key: HeaderSource, Value: []byte(r.Name)}},
			Time:    now,
		})
	}
	return msgs, dead, newest, outcomes
}

// HeaderPayloadShape marks a dead letter of a source with a mapping: its
// payload is the record in the platform's own shape ("platform"), as the
// source delivered it, so that a replay must map it first.
const HeaderPayloadShape = "yiwang.payload.shape"

// deadLetter builds the dead letter of a refused record. A mapped source's
// keeps the platform's shape — the clerk fixes the record there — but only
// what the mapping reads, without what feeds personal fields
// (Mapping.Evidence); ScrubPayload then masks whatever ID or phone number
// is left anywhere.
func (r *Runner) deadLetter(rec Record, src, obj map[string]any, err error, now time.Time) kafka.Message {
	if r.Map == nil {
		return DeadLetter("connector", r.Name, r.Schema.Name, rec.Position, ScrubPayload(r.Schema, rec.Raw, obj), err, now)
	}
	var payload []byte
	if src != nil {
		payload = ScrubPayload(nil, nil, r.Map.Evidence(src))
	} else {
		payload = ScrubPayload(nil, rec.Raw, nil) // not JSON: masked as text
	}
	m := DeadLetter("connector", r.Name, r.Schema.Name, rec.Position, payload, err, now)
	m.Headers = append(m.Headers, kafka.Header{Key: HeaderPayloadShape, Value: []byte("platform")})
	return m
}

// produce writes msgs, retrying until Kafka acknowledged all of them or ctx
// ends. Retried writes may store duplicates; the loader's upsert absorbs them.
func (r *Runner) produce(ctx context.Context, msgs []kafka.Message) error {
	for attempt := 1; ; attempt++ {
		err := r.Producer.Write(ctx, msgs...)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.Log.Warn("produce failed; retrying the page", "source", r.Name, "err", err, "attempt", attempt)
		sleep(ctx, backoff(attempt, time.Second))
	}
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
	s := &State{producer: p, cursors: map[string]string{}}
	for _, m := range msgs {
		var v stateValue
		if m.Value == nil {
			delete(s.cursors, string(m.Key))
			continue
		}
		if err := json.Unmarshal(m.Value, &v); err != nil {
			return nil, fmt.Errorf("connector state of %s at offset %d: %w", m.Key, m.Offset, err)
		}
		s.cursors[string(m.Key)] = v.Cursor
	}
	return s, nil
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
	s.mu.Unlock()
	return nil
}
