// Package deadletter is the dead-letter topic's record format: the headers
// that say who refused a record, where and why, the payload scrubbed of
// personal data and cut to fit Kafka, and reading the newest letters back.
// Connectors and the loader write dead letters; the API and the CLI read
// them; replaying them through validation is the connectors' part.
package deadletter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/schemas"
)

// Topic is the dead-letter topic.
const Topic = "yiwang.deadletter.v1"

// Headers of a dead letter. HeaderSource also marks every record a
// connector produces (the source it came from).
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

// New builds the dead-letter record of a refused record. payload must
// already be free of personal data (see Scrub).
func New(stage, source, schema, position string, payload []byte, err error, now time.Time) kafka.Message {
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
		Topic: Topic,
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

// HeaderPayloadShape says what a dead letter's payload is when it is not
// the record in the schema's source form: ShapePlatform or ShapeCut.
const HeaderPayloadShape = "yiwang.payload.shape"

// Payload shapes.
const (
	// ShapePlatform: the record in a mapped source's own shape, as the
	// source delivered it, so that a replay must map it first.
	ShapePlatform = "platform"
	// ShapeCut: the payload was cut to fit Kafka (values over
	// cutValueBytes replaced by "[cut: N bytes]"); it cannot be replayed,
	// only corrected at the source.
	ShapeCut = "cut"
)

// Bounds of a cut payload (CutPayloadBytes in all).
const (
	CutPayloadBytes = 8 << 10
	cutValueBytes   = 256
)

// Reason returns the reason code of a refusal.
func Reason(err error) string {
	var re *schemas.RecordError
	if errors.As(err, &re) {
		return re.Reason
	}
	return schemas.ReasonSchema
}

// Cut bounds a dead letter's payload (already masked) to a few
// kilobytes and marks it ShapeCut: a JSON object keeps its short values and
// has each longer one replaced by "[cut: N bytes]"; other text keeps its
// start.
func Cut(m kafka.Message) kafka.Message {
	m.Value = cutPayload(m.Value)
	hs := make([]kafka.Header, 0, len(m.Headers)+1)
	for _, h := range m.Headers {
		if h.Key != HeaderPayloadShape {
			hs = append(hs, h)
		}
	}
	m.Headers = append(hs, kafka.Header{Key: HeaderPayloadShape, Value: []byte(ShapeCut)})
	return m
}

func cutPayload(p []byte) []byte {
	if obj, err := schemas.Decode(p); err == nil {
		for k, v := range obj {
			if b, err := json.Marshal(v); err != nil || len(b) > cutValueBytes {
				obj[k] = fmt.Sprintf("[cut: %d bytes]", len(b))
			}
		}
		if b, err := json.Marshal(obj); err == nil && len(b) <= CutPayloadBytes {
			return b
		}
		b, _ := json.Marshal(map[string]string{"_cut": fmt.Sprintf("%d bytes", len(p))})
		return b
	}
	if len(p) <= CutPayloadBytes {
		return p
	}
	cut := p[:CutPayloadBytes]
	for i := 0; i < utf8.UTFMax && len(cut) > 0 && !utf8.Valid(cut[len(cut)-min(len(cut), utf8.UTFMax):]); i++ {
		cut = cut[:len(cut)-1]
	}
	return append(bytes.Clone(cut), fmt.Sprintf("…[cut: %d bytes]", len(p))...)
}

// Scrub makes a refused record safe to keep, by what the schema
// says of each field: a personal field (x-pii hmac, mask or drop) is
// removed; free text marked x-pii scan has its ID and mobile numbers
// masked (pii.ScrubText, which keeps to digit groups, so that a longer code
// such as an incident number is left whole); a field the schema marks
// nothing is kept as it is (a grid code is no ID number). A field the
// schema does not know — and every field when sc is nil — is masked like
// scan text in every string and number, and so is the whole text of a
// record that does not decode: what it is cannot be known.
func Scrub(sc *schemas.Schema, raw []byte, obj map[string]any) []byte {
	if obj == nil {
		obj, _ = schemas.Decode(raw)
	}
	if obj != nil {
		if b := Encode(scrubObject(sc, obj)); b != nil {
			return b
		}
	}
	out, _ := pii.ScrubText(string(raw))
	return []byte(out)
}

// Encode encodes a scrubbed object as a payload, nil if it cannot be.
func Encode(obj map[string]any) []byte {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil
	}
	return b
}

// scrubObject applies Scrub's rules to obj in place.
func scrubObject(sc *schemas.Schema, obj map[string]any) map[string]any {
	for k, v := range obj {
		pi, known := piiOf(sc, k)
		switch {
		case !known || pi == schemas.PIIScan:
			obj[k] = ScrubValue(v)
		case pi != schemas.PIINone:
			delete(obj, k)
		}
	}
	return obj
}

// piiOf returns how the schema marks field name: a column of the source
// form, or a protected column of the topic form (the loader's dead
// letters), which holds no raw value.
func piiOf(sc *schemas.Schema, name string) (schemas.PII, bool) {
	if sc == nil {
		return "", false
	}
	if c, ok := sc.Column(name); ok {
		return c.PII, true
	}
	for _, c := range sc.TableColumns() {
		if c.Name == name {
			return c.PII, true
		}
	}
	return "", false
}

// pseudonym is the form of a protected column's value, version:HMAC; its
// hex digits are no phone number.
var pseudonym = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}:[0-9a-f]{64}$`)

// ScrubValue masks ID and mobile numbers in every string and number of v.
func ScrubValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = ScrubValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = ScrubValue(e)
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
