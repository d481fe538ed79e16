package sqldb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Cursor is the position after one row: its timestamp and id. A poll from
// it reads the rows with (timestamp, id) strictly greater, so rows sharing
// a timestamp are never skipped.
//
// Its string form is a JSON object, {"ts":"2026-11-26T08:00:00.123456Z",
// "id":"WO1"}: the instant in UTC with exactly six fractional digits (the
// database's precision, so that no row is skipped or read twice by
// rounding) and the id as text, which the database turns back into the id
// column's type (an integer id is its decimal digits).
type Cursor struct {
	// Time is the row's timestamp as an instant; naive columns are read in
	// Config.Timezone.
	Time time.Time
	// ID is the row's id column as text.
	ID string
}

// tsLayout is RFC 3339 with microseconds, the form of every timestamp the
// connector writes.
const tsLayout = "2006-01-02T15:04:05.000000Z07:00"

// ParseCursor decodes a cursor string; "" is the beginning. It refuses what
// the connector never writes: other keys, a time off RFC 3339, finer than a
// microsecond or outside years 1-9999, an id that is not valid UTF-8.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	var raw struct {
		TS *string `json:"ts"`
		ID *string `json:"id"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Cursor{}, fmt.Errorf("decode cursor %q: %w", s, err)
	}
	if dec.More() {
		return Cursor{}, fmt.Errorf("decode cursor %q: text after the object", s)
	}
	if raw.TS == nil || raw.ID == nil {
		return Cursor{}, fmt.Errorf("decode cursor %q: needs both ts and id", s)
	}
	t, err := time.Parse(time.RFC3339Nano, *raw.TS)
	if err != nil {
		return Cursor{}, fmt.Errorf("cursor time %q: %w", *raw.TS, err)
	}
	c := Cursor{Time: t.UTC(), ID: *raw.ID}
	if err := c.valid(); err != nil {
		return Cursor{}, fmt.Errorf("cursor %q: %w", s, err)
	}
	return c, nil
}

// valid reports whether c has a string form that reads back as c.
func (c Cursor) valid() error {
	switch {
	case c.Time.Nanosecond()%1000 != 0:
		return errors.New("time finer than a microsecond")
	case c.Time.UTC().Year() < 1 || c.Time.UTC().Year() > 9999:
		return fmt.Errorf("time %s outside years 1-9999", c.Time.UTC().Format(time.RFC3339))
	case !utf8.ValidString(c.ID):
		return errors.New("id is not valid UTF-8")
	}
	return nil
}

// String encodes c; the zero Cursor is "".
func (c Cursor) String() string {
	if c == (Cursor{}) {
		return ""
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		TS string `json:"ts"`
		ID string `json:"id"`
	}{c.Time.UTC().Format(tsLayout), c.ID})
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}
