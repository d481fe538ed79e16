// Package connectors holds the Source contract and the Runner that drives
// every source: poll → validate → strip personal data → produce → advance
// the cursor, with the cursor kept in the compacted topic
// yiwang.connector-state so that a connector can move to another machine.
//
// Delivery is at-least-once: the cursor moves only after Kafka acknowledged
// every record before it, so a crash replays a page, never skips one.
// Records that fail validation go to yiwang.deadletter.v1 with headers that
// name the source, schema, reason and original position.
//
// Metrics (see internal/metrics): yiwang_connector_records_total,
// yiwang_connector_polls_total, yiwang_connector_last_poll_timestamp_seconds,
// yiwang_connector_last_produce_timestamp_seconds,
// yiwang_source_newest_event_timestamp_seconds, yiwang_deadletters_total.
package connectors

import (
	"context"
)

// Record is one record read from a source system.
type Record struct {
	// Raw is the record as a JSON object.
	Raw []byte
	// Cursor is the source's position just after this record; polling from
	// it must return the records after this one.
	Cursor string
	// Position says where the record came from, for the dead-letter header
	// (e.g. the URL and cursor it was read at).
	Position string
}

// Source reads records from one source system, incrementally.
type Source interface {
	// Poll returns the records after cursor ("" means from the beginning),
	// at most one page, in cursor order; more reports that another page is
	// waiting. Poll blocks for I/O and retries transient failures itself
	// within ctx; an error means nothing of this poll may be used.
	Poll(ctx context.Context, cursor string) (recs []Record, more bool, err error)
}

// Topic names.
const (
	StateTopic      = "yiwang.connector-state"
	DeadLetterTopic = "yiwang.deadletter.v1"
)
