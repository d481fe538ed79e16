package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/yiwang-gov/yiwang/connectors/mapping"
	"github.com/yiwang-gov/yiwang/internal/deadletter"
	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/schemas"
)

// ReplayResult counts what a replay did.
type ReplayResult struct {
	Replayed int `json:"replayed"`
	// StillInvalid counts records refused again, by reason; they stay in
	// the dead-letter topic and are not written to it a second time.
	StillInvalid map[string]int `json:"still_invalid"`
	DryRun       bool           `json:"dry_run"`
}

// Replayer sends dead letters back through validation, for instance after
// a mapping or reference-table fix: those that now pass are produced to
// their record topic, where the loader upserts them like any record.
type Replayer struct {
	Client   *kafka.Client
	Producer Producer
	Registry *schemas.Registry
	Areas    schemas.Areas
	Key      *pii.Key
	Now      func() time.Time
	// Maps are the mappings of the sources that have one, by source name:
	// a dead letter in its platform's shape is mapped again (after a fix
	// of the mapping, the new one) before validation.
	Maps map[string]*mapping.Mapping
}

// Replay replays the dead letters matching f. With dryRun nothing is
// produced.
func (r *Replayer) Replay(ctx context.Context, f deadletter.Filter, dryRun bool) (ReplayResult, error) {
	res := ReplayResult{StillInvalid: map[string]int{}, DryRun: dryRun}
	dls, err := deadletter.Read(ctx, r.Client, f)
	if err != nil {
		return res, err
	}
	now := r.Now()
	var msgs []kafka.Message
	for _, d := range dls {
		value, sc, err := r.revalidate(d, now)
		if err != nil {
			reason := schemas.ReasonSchema
			var re *schemas.RecordError
			if errors.As(err, &re) {
				reason = re.Reason
			}
			res.StillInvalid[reason]++
			continue
		}
		obj, _ := schemas.Decode(value)
		msgs = append(msgs, kafka.Message{Topic: sc.Topic, Key: []byte(sc.KeyOf(obj)), Value: value, Time: now,
			Headers: []kafka.Header{{Key: deadletter.HeaderSource, Value: []byte(d.Source)},
				{Key: "yiwang.replayed-from", Value: []byte(deadletter.Topic + "/" + strconv.Itoa(d.Partition) + "/" + strconv.FormatInt(d.Offset, 10))}}})
	}
	res.Replayed = len(msgs)
	if dryRun || len(msgs) == 0 {
		return res, nil
	}
	if err := r.Producer.Write(ctx, msgs...); err != nil {
		return res, fmt.Errorf("produce replayed records: %w", err)
	}
	return res, nil
}

// revalidate runs a dead letter's payload through the stage it failed at:
// the source form for the connector's, the topic form for the loader's.
func (r *Replayer) revalidate(d deadletter.Record, now time.Time) ([]byte, *schemas.Schema, error) {
	sc, ok := r.Registry.Get(d.Schema)
	if !ok {
		return nil, nil, &schemas.RecordError{Reason: schemas.ReasonSchema, Msg: fmt.Sprintf("unknown schema %q", d.Schema)}
	}
	if d.Stage == "loader" {
		if _, err := sc.Load([]byte(d.Payload), r.Areas, now); err != nil {
			return nil, nil, err
		}
		return []byte(d.Payload), sc, nil
	}
	if d.Shape == deadletter.ShapeCut {
		return nil, nil, &schemas.RecordError{Reason: schemas.ReasonTooLarge,
			Msg: "the payload was cut to fit Kafka and cannot be replayed; correct the record at its source and send it again"}
	}
	obj, err := schemas.Decode([]byte(d.Payload))
	if err != nil {
		return nil, nil, err
	}
	if d.Shape == deadletter.ShapePlatform {
		m := r.Maps[d.Source]
		if m == nil {
			return nil, nil, &schemas.RecordError{Reason: mapping.ReasonMapping,
				Msg: fmt.Sprintf("the record is in source %s's own shape and that source has no map: in this pipeline file", d.Source)}
		}
		if obj, err = m.Apply(obj); err != nil {
			return nil, nil, err
		}
	}
	if err := Check(sc, obj, r.Areas, now); err != nil {
		return nil, nil, err
	}
	if _, err := protect(sc, r.Key, obj, now); err != nil {
		return nil, nil, err
	}
	b, err := json.Marshal(obj)
	return b, sc, err
}
