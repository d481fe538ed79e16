package pipelines

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/yiwang-gov/yiwang/internal/anomaly"
	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/queries"
)

// ModesTopic carries every mode switch (平急转换), keyed by area and
// compacted, so that every replica of serve — each with its own DuckDB
// file over the same log — applies the same switches in the same order.
// The API writes a switch here and nowhere else; each replica's mode
// applier reads the topic from the offset stored with its tables and
// applies each switch together with that offset, once. Compaction keeps
// each area's latest switch: a replica started after it has the current
// modes, and the history of changes the topic still held.
const ModesTopic = "yiwang.modes.v1"

// modes serves the API's mode switch: it checks the switch, writes it to
// ModesTopic and waits until this replica has applied it, so that the
// answer's reader sees it here at once.
type modes struct {
	db       *sql.DB
	producer interface {
		Write(ctx context.Context, msgs ...kafka.Message) error
	}
}

func (m modes) SetMode(ctx context.Context, area string, mode queries.Mode, reason string) error {
	if err := queries.CheckMode(ctx, m.db, area, mode); err != nil {
		return err
	}
	c := queries.ModeChange{Area: area, Mode: string(mode), Reason: reason, At: time.Now().UTC().Truncate(time.Microsecond)}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := m.producer.Write(ctx, kafka.Message{Topic: ModesTopic, Key: []byte(area), Value: b, Time: c.At}); err != nil {
		return fmt.Errorf("write the switch to %s: %w", ModesTopic, err)
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		var at time.Time
		err := m.db.QueryRowContext(wait, "SELECT changed_at FROM area_modes WHERE area_code = ?", area).Scan(&at)
		if err == nil && !at.Before(c.At) {
			return nil
		}
		select {
		case <-wait.Done():
			return fmt.Errorf("the switch of %s is in %s but this server has not applied it within 10 s; it will be applied when its mode applier reads on", area, ModesTopic)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// FeedbackTopic carries the feedback people give on anomalies (ack,
// false positive, known incident), keyed by anomaly id and compacted,
// applied by every replica like ModesTopic, so that every replica shows the
// same state and no replica opens again an anomaly marked a false positive.
const FeedbackTopic = "yiwang.feedback.v1"

// feedback serves the API's feedback on anomalies: it checks it, writes it
// to FeedbackTopic and waits until this replica has applied it.
type feedback struct {
	db       *sql.DB
	producer interface {
		Write(ctx context.Context, msgs ...kafka.Message) error
	}
}

func (f feedback) Give(ctx context.Context, fb anomaly.Feedback) error {
	if err := fb.Check(); err != nil {
		return err
	}
	ok, err := anomaly.Exists(ctx, f.db, fb.AnomalyID)
	if err != nil {
		return err
	}
	if !ok {
		return anomaly.ErrNotFound
	}
	fb.At = time.Now().UTC().Truncate(time.Microsecond)
	b, err := json.Marshal(fb)
	if err != nil {
		return err
	}
	if err := f.producer.Write(ctx, kafka.Message{Topic: FeedbackTopic, Key: []byte(fb.AnomalyID), Value: b, Time: fb.At}); err != nil {
		return fmt.Errorf("write the feedback to %s: %w", FeedbackTopic, err)
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		var n int
		err := f.db.QueryRowContext(wait, "SELECT count(*) FROM anomaly_feedback WHERE anomaly_id = ? AND given_at = ? AND who = ?", fb.AnomalyID, fb.At, fb.Who).Scan(&n)
		if err == nil && n > 0 {
			return nil
		}
		select {
		case <-wait.Done():
			return fmt.Errorf("the feedback on %s is in %s but this server has not applied it within 10 s; it will be applied when its applier reads on", fb.AnomalyID, FeedbackTopic)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// applier applies a compacted topic's records to one replica's tables,
// each batch in one transaction with the topic's offset (load_offsets), so
// that each record is applied once.
type applier struct {
	topic  string
	what   string // what a record is, for messages: "mode switch"
	client *kafka.Client
	db     *sql.DB
	log    *slog.Logger
	// apply applies one record; a record that is not one (it came from no
	// yiwang) returns errNotOne and is logged and passed.
	apply func(ctx context.Context, tx *sql.Tx, m kafka.Message) error
	// after runs after each applied batch (nil: nothing).
	after func(ctx context.Context)
}

// errNotOne means a topic's record is not what the topic carries.
var errNotOne = errors.New("not a record of this topic")

// modeApplier applies ModesTopic to one replica's tables.
func modeApplier(client *kafka.Client, db *sql.DB, m *metrics.Metrics, log *slog.Logger) applier {
	return applier{topic: ModesTopic, what: "mode switch", client: client, db: db, log: log,
		apply: func(ctx context.Context, tx *sql.Tx, msg kafka.Message) error {
			var c queries.ModeChange
			if err := json.Unmarshal(msg.Value, &c); err != nil || c.Area == "" || (c.Mode != string(queries.Normal) && c.Mode != string(queries.Emergency)) {
				return errNotOne
			}
			return queries.ApplyMode(ctx, tx, c)
		},
		after: func(ctx context.Context) { queries.ExportModes(ctx, db, m) }}
}

// feedbackApplier applies FeedbackTopic to one replica's tables.
func feedbackApplier(client *kafka.Client, db *sql.DB, log *slog.Logger) applier {
	return applier{topic: FeedbackTopic, what: "feedback", client: client, db: db, log: log,
		apply: func(ctx context.Context, tx *sql.Tx, msg kafka.Message) error {
			var f anomaly.Feedback
			if err := json.Unmarshal(msg.Value, &f); err != nil || f.Check() != nil || f.At.IsZero() {
				return errNotOne
			}
			return anomaly.ApplyFeedback(ctx, tx, f)
		}}
}

// run applies records until ctx ends: a fetch that fails is retried, a
// record that is not one is logged and passed.
func (a applier) run(ctx context.Context) error {
	var next int64
	err := a.db.QueryRowContext(ctx, "SELECT next_offset FROM load_offsets WHERE topic = ? AND partition = 0", a.topic).Scan(&next)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read the offset of %s: %w", a.topic, err)
	}
	failing := false
	for ctx.Err() == nil {
		f, err := a.client.Fetch(ctx, a.topic, 0, next, kafka.FetchOptions{MaxWait: 500 * time.Millisecond})
		if errors.Is(err, kafka.ErrOffsetOutOfRange) {
			// Compaction never moves the log start past records it
			// keeps; a log that was lost starts again at its start.
			a.log.Error("the topic does not hold the stored offset; applying it again from its start", "topic", a.topic, "offset", next)
			next = 0
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !failing {
				a.log.Warn("read a replicated topic; retrying", "topic", a.topic, "err", err)
				failing = true
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		failing = false
		if len(f.Messages) == 0 {
			next = max(next, f.Next)
			continue
		}
		if err := a.applyBatch(ctx, f.Messages, f.Next); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		next = f.Next
		if a.after != nil {
			a.after(ctx)
		}
	}
	return nil
}

func (a applier) applyBatch(ctx context.Context, msgs []kafka.Message, next int64) error {
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, m := range msgs {
		if err := a.apply(ctx, tx, m); errors.Is(err, errNotOne) {
			a.log.Error("a record of a replicated topic is not one; passed", "topic", a.topic, "want", a.what, "offset", m.Offset)
		} else if err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO load_offsets VALUES (?, 0, ?, ?)
ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset, loaded_at = excluded.loaded_at`, a.topic, next, time.Now().UTC()); err != nil {
		return fmt.Errorf("record the offset of %s: %w", a.topic, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit %s records: %w", a.what, err)
	}
	return nil
}
