package connectors

import (
	"errors"
	"regexp"
	"strconv"
	"time"

	"github.com/yiwang-gov/yiwang/internal/kafka"
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

var (
	idLike    = regexp.MustCompile(`[1-9][0-9]{5}(?:18|19|20)[0-9]{9}[0-9Xx]`)
	phoneLike = regexp.MustCompile(`(^|[^0-9])(1[3-9][0-9])([0-9]{4})([0-9]{4})([^0-9]|$)`)
)

// ScrubPayload makes a refused record safe to keep: the schema's personal
// fields are removed when the record decodes, and in any case anything
// shaped like a resident ID or a mobile number is masked, so that a
// malformed record cannot carry them into the dead-letter topic.
func ScrubPayload(sc *schemas.Schema, raw []byte, obj map[string]any) []byte {
	if obj != nil && sc != nil && len(sc.StripPII(obj)) > 0 {
		if b, err := marshal(obj); err == nil {
			raw = b
		}
	}
	out := idLike.ReplaceAllFunc(raw, func(m []byte) []byte {
		return append(append(append([]byte{}, m[:3]...), []byte("***********")...), m[14:]...)
	})
	return phoneLike.ReplaceAll(out, []byte("${1}${2}****${4}${5}"))
}
