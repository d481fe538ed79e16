package api

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ArrowStream is the media type of an answer as an Arrow IPC stream: a
// list route answers it for ?format=arrow or Accept: ArrowStream.
const ArrowStream = "application/vnd.apache.arrow.stream"

// arrowBatch is how many rows one record batch of an Arrow answer holds.
const arrowBatch = 4096

// arrowWriter encodes rows as an Arrow IPC stream. The schema is read off
// the first batch: a column's type is that of its first value that is not
// null (a time, a whole number, a number, a boolean), text otherwise, and
// lists and structures are sent as their JSON.
type arrowWriter struct {
	w       io.Writer
	columns []string
	pending [][]any
	schema  *arrow.Schema
	ipc     *ipc.Writer
}

func (a *arrowWriter) row(r []any) error {
	a.pending = append(a.pending, r)
	if len(a.pending) >= arrowBatch {
		return a.flush()
	}
	return nil
}

func (a *arrowWriter) infer() {
	fields := make([]arrow.Field, len(a.columns))
	for i, name := range a.columns {
		var t arrow.DataType = arrow.BinaryTypes.String
	rows:
		for _, r := range a.pending {
			switch r[i].(type) {
			case nil:
				continue
			case time.Time:
				t = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
			case int64, int32, int16, int8, int, uint8, uint16, uint32:
				t = arrow.PrimitiveTypes.Int64 // wholeNumber's kinds
			case float64, float32:
				t = arrow.PrimitiveTypes.Float64
			case bool:
				t = arrow.FixedWidthTypes.Boolean
			}
			break rows
		}
		fields[i] = arrow.Field{Name: name, Type: t, Nullable: true}
	}
	a.schema = arrow.NewSchema(fields, nil)
	a.ipc = ipc.NewWriter(a.w, ipc.WithSchema(a.schema), ipc.WithAllocator(memory.DefaultAllocator))
}

// flush writes the pending rows as one record batch.
func (a *arrowWriter) flush() error {
	if a.schema == nil {
		a.infer()
	}
	if len(a.pending) == 0 {
		return nil
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, a.schema)
	defer b.Release()
	for _, r := range a.pending {
		for i, v := range r {
			appendArrow(b.Field(i), v)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	a.pending = a.pending[:0]
	return a.ipc.Write(rec)
}

// close writes what is pending and the end of the stream.
func (a *arrowWriter) close() error {
	if err := a.flush(); err != nil {
		return err
	}
	return a.ipc.Close()
}

// appendArrow appends v to the column builder, null when v is nil or
// does not fit the column's type.
func appendArrow(b array.Builder, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.TimestampBuilder:
		if t, ok := v.(time.Time); ok {
			b.Append(arrow.Timestamp(t.UnixMicro()))
			return
		}
	case *array.Int64Builder:
		if x, ok := wholeNumber(v); ok {
			b.Append(x)
			return
		}
	case *array.Float64Builder:
		if x, ok := v.(float64); ok {
			b.Append(x)
			return
		}
		if x, ok := v.(float32); ok {
			b.Append(float64(x))
			return
		}
		if x, ok := wholeNumber(v); ok {
			b.Append(float64(x))
			return
		}
	case *array.BooleanBuilder:
		if x, ok := v.(bool); ok {
			b.Append(x)
			return
		}
	case *array.StringBuilder:
		switch x := v.(type) {
		case string:
			b.Append(x)
		case []any, map[string]any:
			j, _ := json.Marshal(x)
			b.Append(string(j))
		case time.Time:
			b.Append(x.UTC().Format(time.RFC3339Nano))
		default:
			b.Append(fmt.Sprint(x))
		}
		return
	}
	b.AppendNull()
}

// wholeNumber is v as an int64 when it is a whole number that fits one.
func wholeNumber(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case int:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	}
	return 0, false
}
