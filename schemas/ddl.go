package schemas

import (
	"fmt"
	"strings"
)

// CreateTable returns the DuckDB DDL of the record type's table: the
// non-personal columns, NOT NULL for required ones, the natural key as
// primary key, and a comment per column from its description.
func (s *Schema) CreateTable() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", s.Table)
	for _, c := range s.TableColumns() {
		fmt.Fprintf(&b, "  %s %s", c.Name, c.Type.SQL())
		if !c.Nullable {
			b.WriteString(" NOT NULL")
		}
		b.WriteString(",\n")
	}
	fmt.Fprintf(&b, "  PRIMARY KEY (%s)\n)", strings.Join(s.Key, ", "))
	return b.String()
}
