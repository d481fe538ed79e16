package pipelines

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

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

// modeApplier applies ModesTopic to one replica's tables.
type modeApplier struct {
	client  *kafka.Client
	db      *sql.DB
	metrics *metrics.Metrics
	log     *slog.Logger
}

// run applies switches until ctx ends: a fetch that fails is retried, a
// switch that does not decode is logged and passed (it came from no
// yiwang).
func (a modeApplier) run(ctx context.Context) error {
	var next int64
	err := a.db.QueryRowContext(ctx, "SELECT next_offset FROM load_offsets WHERE topic = ? AND partition = 0", ModesTopic).Scan(&next)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read the offset of %s: %w", ModesTopic, err)
	}
	failing := false
	for ctx.Err() == nil {
		f, err := a.client.Fetch(ctx, ModesTopic, 0, next, kafka.FetchOptions{MaxWait: 500 * time.Millisecond})
		if errors.Is(err, kafka.ErrOffsetOutOfRange) {
			// Compaction never moves the log start past records it
			// keeps; a log that was lost starts again at its start.
			a.log.Error("the modes topic does not hold the stored offset; applying it again from its start", "offset", next)
			next = 0
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !failing {
				a.log.Warn("read the modes topic; retrying", "err", err)
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
		if err := a.apply(ctx, f.Messages, f.Next); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		next = f.Next
		queries.ExportModes(ctx, a.db, a.metrics)
	}
	return nil
}

func (a modeApplier) apply(ctx context.Context, msgs []kafka.Message, next int64) error {
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, m := range msgs {
		var c queries.ModeChange
		if err := json.Unmarshal(m.Value, &c); err != nil || c.Area == "" || (c.Mode != string(queries.Normal) && c.Mode != string(queries.Emergency)) {
			a.log.Error("a record of the modes topic is no mode switch; passed", "offset", m.Offset, "err", err)
			continue
		}
		if err := queries.ApplyMode(ctx, tx, c); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO load_offsets VALUES (?, 0, ?, ?)
ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset, loaded_at = excluded.loaded_at`, ModesTopic, next, time.Now().UTC()); err != nil {
		return fmt.Errorf("record the offset of %s: %w", ModesTopic, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit mode switches: %w", err)
	}
	return nil
}
