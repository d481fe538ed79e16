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
	"errors"
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
	// Refused, when set, is why the source itself refuses the record (a
	// value over the source's size limit, say): the runner dead-letters it
	// with this error, usually a *schemas.RecordError, without validating
	// it. Raw is then what the dead letter keeps, masked like any payload.
	Refused error
}

// Source reads records from one source system, incrementally.
type Source interface {
	// Poll returns the records after cursor ("" means from the beginning),
	// at most one page, in cursor order; more reports that another page is
	// waiting. Poll blocks for I/O and retries transient failures itself
	// within ctx; an error means nothing of this poll may be used.
	Poll(ctx context.Context, cursor string) (recs []Record, more bool, err error)
}

// Outcomes is implemented by a source that wants to know what became of
// each record it delivered — the file connector's per-file report.
type Outcomes interface {
	// Outcome is called once per record after Kafka acknowledged the page
	// it came in: err is nil when the record went to its topic, else the
	// *schemas.RecordError it was dead-lettered with. A record skipped
	// because it was already dead-lettered at the same cursor gets no call.
	Outcome(rec Record, err error)
}

// errSkipped marks a record that gets no Outcome call.
var errSkipped = errors.New("skipped")

// Topic names.
const (
	StateTopic = "yiwang.connector-state"
)
