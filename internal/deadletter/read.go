package deadletter

import (
	"context"
	"fmt"
	"time"

	"github.com/yiwang-gov/yiwang/internal/kafka"
)

// Record is one record of the dead-letter topic, as the API and
// the CLI show it.
type Record struct {
	Partition int       `json:"partition"`
	Offset    int64     `json:"offset"`
	Time      time.Time `json:"time"`
	Source    string    `json:"source"`
	Schema    string    `json:"schema"`
	Stage     string    `json:"stage"`
	Reason    string    `json:"reason"`
	Field     string    `json:"field,omitempty"`
	Message   string    `json:"message"`
	Position  string    `json:"position"`
	// Shape is ShapePlatform when the payload is in the source system's
	// own shape (refused before or by its mapping), ShapeCut when it was
	// cut to fit Kafka, else "".
	Shape   string `json:"shape,omitempty"`
	Payload string `json:"payload"`
}

// Filter selects dead letters; empty fields match everything.
type Filter struct {
	Source, Schema, Reason, Stage string
	// Limit bounds the records returned, newest last (default 1000).
	Limit int
	// Scan bounds how many of the newest records per partition are read
	// (default 100,000).
	Scan int64
}

func (f Filter) match(d Record) bool {
	return (f.Source == "" || f.Source == d.Source) && (f.Schema == "" || f.Schema == d.Schema) &&
		(f.Reason == "" || f.Reason == d.Reason) && (f.Stage == "" || f.Stage == d.Stage)
}

// Of reads a dead letter from its Kafka record.
func Of(m kafka.Message) Record {
	return Record{Partition: m.Partition, Offset: m.Offset, Time: m.Time,
		Source: m.Header(HeaderSource), Schema: m.Header(HeaderSchema), Stage: m.Header(HeaderStage),
		Reason: m.Header(HeaderCode), Field: m.Header(HeaderField), Message: m.Header(HeaderMessage),
		Position: m.Header(HeaderPosition), Shape: m.Header(HeaderPayloadShape), Payload: string(m.Value)}
}

// Read returns the newest dead letters matching f, oldest first.
func Read(ctx context.Context, c *kafka.Client, f Filter) ([]Record, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	if f.Scan <= 0 {
		f.Scan = 100000
	}
	msgs, err := c.ReadTail(ctx, Topic, f.Scan)
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	var out []Record
	for _, m := range msgs {
		if d := Of(m); f.match(d) {
			out = append(out, d)
		}
	}
	if len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out, nil
}
