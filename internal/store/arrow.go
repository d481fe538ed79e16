package store

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/yiwang-gov/yiwang/schemas"
)

// ArrowSchema derives the Arrow schema of a record type's table: the same
// columns, in order, with the types duckdb-go's Arrow API maps to the
// table's DuckDB types (a timestamp with a time zone is TIMESTAMPTZ).
func ArrowSchema(sc *schemas.Schema) *arrow.Schema {
	cols := sc.TableColumns()
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		var t arrow.DataType
		switch c.Type {
		case schemas.Timestamp:
			t = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		case schemas.Date:
			t = arrow.FixedWidthTypes.Date32
		case schemas.BigInt:
			t = arrow.PrimitiveTypes.Int64
		case schemas.Double:
			t = arrow.PrimitiveTypes.Float64
		case schemas.Boolean:
			t = arrow.FixedWidthTypes.Boolean
		case schemas.VarcharList:
			t = arrow.ListOf(arrow.BinaryTypes.String)
		default:
			t = arrow.BinaryTypes.String
		}
		fields[i] = arrow.Field{Name: c.Name, Type: t, Nullable: c.Nullable}
	}
	return arrow.NewSchema(fields, nil)
}
