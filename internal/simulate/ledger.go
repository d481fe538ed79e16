package simulate

import (
	"fmt"
	"time"

	"github.com/yiwang-gov/yiwang/schemas"
)

// Version is the latest version of a record as the source system serves it.
type Version struct {
	UpdatedAt time.Time // the record's updated_at
	N         int       // 1 for the first version
	JSON      []byte    // the record; shared, do not modify
}

// Record decodes the version into a generic object, numbers kept as
// json.Number, as the schemas package validates it.
func (v Version) Record() (map[string]any, error) {
	obj, err := schemas.Decode(v.JSON)
	if err != nil {
		return nil, fmt.Errorf("decode ledger record: %w", err)
	}
	return obj, nil
}

// Ledger is a snapshot of what the simulated source systems hold, for
// checking a pipeline end to end: every valid record should be in its table
// exactly once at its latest version, every invalid one in the dead-letter
// topic.
type Ledger struct {
	// Valid maps a record type to its valid records, by id (the natural
	// key: event_id, household_id, usci, ...), at their latest version.
	Valid map[string]map[string]Version
	// Invalid maps a record type to its invalid records' reason labels
	// (InvalidGridCode, ...), by id. Invalid records are never updated.
	Invalid map[string]map[string]string
}

// Ledger returns a snapshot of every record type's records.
func (s *Simulator) Ledger() Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := Ledger{Valid: map[string]map[string]Version{}, Invalid: map[string]map[string]string{}}
	for _, t := range s.tables {
		valid := make(map[string]Version, t.valid)
		invalid := make(map[string]string, t.invalid)
		for id, r := range t.recs {
			if r.reason != "" {
				invalid[id] = r.reason
				continue
			}
			raw, err := t.raw(r)
			if err != nil {
				panic(err) // the simulator's own file, unreadable: nothing to check against
			}
			valid[id] = Version{UpdatedAt: time.UnixMicro(r.ts).UTC(), N: int(r.ver), JSON: raw}
		}
		l.Valid[t.name] = valid
		l.Invalid[t.name] = invalid
	}
	return l
}

// Counts is how many records of one type a source system holds.
type Counts struct {
	Valid    int // distinct valid records
	Invalid  int // distinct invalid records
	Versions int // versions written, first versions included
}

// Counts returns the record counts by record type.
func (s *Simulator) Counts() map[string]Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Counts, len(s.tables))
	for _, t := range s.tables {
		out[t.name] = Counts{Valid: t.valid, Invalid: t.invalid, Versions: t.versions}
	}
	return out
}
