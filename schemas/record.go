package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var englishPrinter = message.NewPrinter(language.English)

// Reason codes of refused records. They are stable: they label metrics and
// travel in the dead-letter header "yiwang.error.code".
const (
	ReasonMalformed   = "malformed_json"
	ReasonSchema      = "schema_violation"
	ReasonAreaCode    = "bad_area_code"
	ReasonUnknownArea = "unknown_area"
	ReasonChecksum    = "bad_checksum"
	ReasonPersonal    = "bad_personal_data"
	// ReasonTooLarge: the record, or one of its values, is larger than the
	// pipeline carries (Kafka's message size, a source's cell or row limit).
	ReasonTooLarge = "too_large"
)

// RecordError is why one record was refused.
type RecordError struct {
	Reason string // one of the Reason constants
	Field  string // the offending property, if one
	Msg    string
}

func (e *RecordError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Reason, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Msg)
}

// Decode parses one JSON record into a generic object, numbers kept as
// json.Number. The object must be a JSON object.
func Decode(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, &RecordError{Reason: ReasonMalformed, Msg: err.Error()}
	}
	if obj == nil {
		return nil, &RecordError{Reason: ReasonMalformed, Msg: "record must be a JSON object, got null"}
	}
	if dec.More() {
		return nil, &RecordError{Reason: ReasonMalformed, Msg: "trailing data after the JSON object"}
	}
	return obj, nil
}

// StripPII removes the x-pii properties from obj and returns their names.
// The loader calls it on what third parties wrote to a topic, so that a raw
// value can never reach a table or a dead letter.
func (s *Schema) StripPII(obj map[string]any) []string {
	var out []string
	for _, c := range s.Columns {
		if c.PII == PIINone {
			continue
		}
		if _, ok := obj[c.Name]; ok {
			delete(obj, c.Name)
			out = append(out, c.Name)
		}
	}
	return out
}

// ValidateTopic checks a record of the topic form (personal fields
// protected): its JSON Schema, then the domain checks of its columns.
func (s *Schema) ValidateTopic(obj map[string]any, areas Areas, now time.Time) error {
	if err := s.topic.Validate(obj); err != nil {
		return schemaError(err)
	}
	for _, c := range s.table {
		if c.Check == CheckNone {
			continue
		}
		if v, ok := obj[c.Name].(string); ok {
			if err := check(c, v, areas, now); err != nil {
				return err
			}
		}
	}
	return convertible(s.table, obj)
}

// convertible refuses date-times the JSON Schema format admits but a
// TIMESTAMPTZ cannot hold (a leap second "23:59:60", a lower-case "t"), so
// that such a record is refused where it enters, not at the table.
func convertible(cols []Column, obj map[string]any) error {
	for _, c := range cols {
		if c.Type != Timestamp && c.Type != Date {
			continue
		}
		if _, err := convert(c, obj[c.Name]); err != nil {
			return &RecordError{Reason: ReasonSchema, Field: c.Name, Msg: err.Error()}
		}
	}
	return nil
}

// Validate checks obj of the source form against the JSON Schema and then
// the domain checks:
// area-code layout and presence in areas (nil: layout only), credit-code and
// resident-ID checksums, mobile numbers. now bounds birth dates.
func (s *Schema) Validate(obj map[string]any, areas Areas, now time.Time) error {
	if err := s.compiled.Validate(obj); err != nil {
		return schemaError(err)
	}
	for _, c := range s.Columns {
		if c.Check == CheckNone {
			continue
		}
		v, ok := obj[c.Name].(string)
		if !ok {
			continue // absent or null: the JSON Schema decided
		}
		if err := check(c, v, areas, now); err != nil {
			return err
		}
	}
	return convertible(s.Columns, obj)
}

func check(c Column, v string, areas Areas, now time.Time) error {
	bad := func(reason, format string, args ...any) error {
		return &RecordError{Reason: reason, Field: c.Name, Msg: fmt.Sprintf(format, args...)}
	}
	switch c.Check {
	case CheckGridCode, CheckCommunityCode, CheckAreaCode:
		want := map[Check]int{CheckGridCode: 15, CheckCommunityCode: 12}[c.Check]
		if want != 0 && len(v) != want {
			return bad(ReasonAreaCode, "must have %d digits, has %d characters", want, len(v))
		}
		if err := AreaCodeFormat(v); err != nil {
			return bad(ReasonAreaCode, "%v", err)
		}
		if areas == nil {
			return nil
		}
		// A grid must lie in a known community; a grid sequence the grids
		// table lacks is loaded and reported as an orphan by the
		// data-quality indicators rather than refused here.
		known := v
		if len(v) == 15 {
			known = v[:12]
		}
		if !areas.Known(known) {
			return bad(ReasonUnknownArea, "%s is not in the areas reference table", known)
		}
	case CheckUSCI:
		if err := ValidUSCI(v); err != nil {
			return bad(ReasonChecksum, "credit code %v", err)
		}
	case CheckResidentID:
		if err := ValidResidentID(v, now); err != nil {
			return bad(ReasonPersonal, "resident ID %v", err) // never echo the value
		}
	case CheckMobile:
		if err := ValidMobile(v); err != nil {
			return bad(ReasonPersonal, "phone number %v", err)
		}
	}
	return nil
}

func schemaError(err error) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &RecordError{Reason: ReasonSchema, Msg: err.Error()}
	}
	// Report the deepest first cause: it names the field.
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	field := strings.Join(ve.InstanceLocation, "/")
	msg := ve.ErrorKind.LocalizedString(englishPrinter)
	return &RecordError{Reason: ReasonSchema, Field: field, Msg: msg}
}

// KeyOf returns the natural key of a validated record as one string (fields
// joined by U+001F).
func (s *Schema) KeyOf(obj map[string]any) string {
	if len(s.Key) == 1 {
		return fmt.Sprint(obj[s.Key[0]])
	}
	parts := make([]string, len(s.Key))
	for i, k := range s.Key {
		parts[i] = fmt.Sprint(obj[k])
	}
	return strings.Join(parts, "\x1f")
}

// VersionOf returns the version_field of a validated record as an int64
// (microseconds for timestamps), for last-writer-wins ordering.
func (s *Schema) VersionOf(obj map[string]any) int64 {
	c, _ := s.Column(s.VersionField)
	v, err := convert(c, obj[s.VersionField])
	if err != nil || v == nil {
		return 0
	}
	switch x := v.(type) {
	case time.Time:
		return x.UnixMicro()
	case int64:
		return x
	}
	return 0
}

// EventTimeOf returns the event_time field of a validated record.
func (s *Schema) EventTimeOf(obj map[string]any) time.Time {
	c, _ := s.Column(s.EventTime)
	v, _ := convert(c, obj[s.EventTime])
	t, _ := v.(time.Time)
	return t
}

// Row converts a validated record into the values of TableColumns, in
// order, typed for the DuckDB appender (nil for NULL).
func (s *Schema) Row(obj map[string]any) ([]any, error) {
	cols := s.TableColumns()
	row := make([]any, len(cols))
	for i, c := range cols {
		v, err := convert(c, obj[c.Name])
		if err != nil {
			return nil, &RecordError{Reason: ReasonSchema, Field: c.Name, Msg: err.Error()}
		}
		row[i] = v
	}
	return row, nil
}

func convert(c Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.Type {
	case Varchar:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %T", v)
		}
		return s, nil
	case Timestamp:
		s, _ := v.(string)
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("want an RFC 3339 date-time: %w", err)
		}
		return t.UTC(), nil
	case Date:
		s, _ := v.(string)
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, fmt.Errorf("want a date YYYY-MM-DD: %w", err)
		}
		return t, nil
	case BigInt:
		switch n := v.(type) {
		case json.Number:
			return n.Int64()
		case float64:
			return int64(n), nil
		case int64:
			return n, nil
		case int:
			return int64(n), nil
		}
	case Double:
		switch n := v.(type) {
		case json.Number:
			return n.Float64()
		case float64:
			return n, nil
		}
	case Boolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case VarcharList:
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want an array, got %T", v)
		}
		return arr, nil
	}
	return nil, fmt.Errorf("want %s, got %T", c.Type.SQL(), v)
}
