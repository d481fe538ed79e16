package connectors

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"time"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/schemas"
)

// Dead-letter headers.
const (
	HeaderSource   = "yiwang.source"
	HeaderSchema   = "yiwang.schema"
	HeaderStage    = "yiwang.stage"
	HeaderCode     = "yiwang.error.code"
	HeaderField    = "yiwang.error.field"
	HeaderMessage  = "yiwang.error.message"
	HeaderPosition = "yiwang.original.position"
	HeaderTime     = "yiwang.deadletter.time"
)

// DeadLetter builds the dead-letter record of a refused record. payload must
// already be free of personal data (see ScrubPayload).
func DeadLetter(stage, source, schema, position string, payload []byte, err error, now time.Time) kafka.Message {
	code, field, msg := schemas.ReasonSchema, "", err.Error()
	var re *schemas.RecordError
	if errors.As(err, &re) {
		code, field, msg = re.Reason, re.Field, re.Msg
	}
	msg, _ = pii.ScrubText(msg) // messages never quote personal values; this holds it if one did
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	return kafka.Message{
		Topic: DeadLetterTopic,
		Key:   []byte(source + "|" + position),
		Value: payload,
		Headers: []kafka.Header{
			{Key: HeaderSource, Value: []byte(source)},
			{Key: HeaderSchema, Value: []byte(schema)},
			{Key: HeaderStage, Value: []byte(stage)},
			{Key: HeaderCode, Value: []byte(code)},
			{Key: HeaderField, Value: []byte(field)},
			{Key: HeaderMessage, Value: []byte(msg)},
			{Key: HeaderPosition, Value: []byte(position)},
			{Key: HeaderTime, Value: []byte(strconv.FormatInt(now.UnixMilli(), 10))},
		},
		Time: now,
	}
}

// ScrubPayload makes a refused record safe to keep: the schema's personal
// fields are removed when the record decodes, and in any case every ID or
// mobile number left in it is masked (pii.ScrubText, which keeps to digit
// groups, so that a longer code such as an incident number is left whole),
// in every string and number of a record that decodes and in the whole
// text of one that does not.
func ScrubPayload(sc *schemas.Schema, raw []byte, obj map[string]any) []byte {
	if obj == nil {
		obj, _ = schemas.Decode(raw)
	}
	if obj != nil {
		if sc != nil {
			sc.StripPII(obj)
		}
		scrubValues(obj)
		if b, err := marshal(obj); err == nil {
			return b
		}
	}
	out, _ := pii.ScrubText(string(raw))
	return []byte(out)
}

// pseudonym is the form of a protected column's value, version:HMAC; its
// hex digits are no phone number.
var pseudonym = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}:[0-9a-f]{64}$`)

// scrubValues masks ID and mobile numbers in every string and number of v.
func scrubValues(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = scrubValues(e)
		}
	case []any:
		for i, e := range x {
			x[i] = scrubValues(e)
		}
	case string:
		if pseudonym.MatchString(x) {
			return x
		}
		out, _ := pii.ScrubText(x)
		return out
	case json.Number:
		if out, n := pii.ScrubText(string(x)); n > 0 {
			return out
		}
	}
	return v
}
