package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ErrNotReadOnly refuses a statement the admin SQL gate does not accept:
// anything but exactly one plain SELECT over the catalog's tables and the
// allowed table functions, calling no function with side effects.
var ErrNotReadOnly = errors.New("only one read-only statement, a plain SELECT, is allowed")

// The admin SQL gate. DuckDB's own parser decides what a statement is:
// json_serialize_sql (the statically linked json extension) serializes a
// single SELECT's parse tree and errors for every other statement type, so
// EXPLAIN, COPY, PRAGMA, CALL, SET, ATTACH, DML and DDL never get this far,
// whatever keyword they start with or hide behind (WITH ... DELETE, EXPLAIN
// ANALYZE COPY). The tree is then walked whole — subqueries, CTEs, set
// operations, lateral joins, DESCRIBE/SUMMARIZE of a query — and every table
// reference and function call in it is judged:
//
//   - A table function must be on tableFuncs. Everything that reads files
//     (read_*, parquet_*, sniff_csv, glob, the read_* replacement scans'
//     targets), runs SQL given as text (query, query_table,
//     json_execute_serialized_sql), changes state (checkpoint,
//     force_checkpoint, enable_*/disable_*, truncate_duckdb_logs) or shows
//     the process rather than the schema (duckdb_settings, duckdb_secrets,
//     duckdb_databases, duckdb_temporary_files, duckdb_logs, pragma_*) is
//     refused. DuckDB lets a process read its own database, WAL and temp
//     files even with enable_external_access=false, so read_blob of the
//     database file would otherwise work.
//   - A table macro is refused (its body is bound later, out of sight).
//   - A named table (or CTE) must be a plain identifier: a name with a dot,
//     slash or colon could be a replacement scan of a file ('x.csv',
//     'y.duckdb.wal') or a remote URL.
//   - Scalar, aggregate and window functions are DuckDB's pure functions
//     except deniedFuncs: sequences (nextval), the session's random seed,
//     the logger, sleeping, planning SQL given as text (json_serialize_plan
//     binds table functions, and read_csv's bind reads its file) and the
//     optimizer's internal helpers. TestFunctionCatalogReviewed pins the
//     function list of this DuckDB build, so an upgrade that adds functions
//     fails until someone has read them against these lists.
//   - Anything else in the tree that is not known (a node or table
//     reference type this code has not seen) is refused.
//
// The statement then runs wrapped in a LIMIT, and the wrapped text must
// parse to the very same tree under the LIMIT: text that a second parse
// would read differently (quotes, comments, a trailing semicolon) is refused
// rather than guessed at. Finally duckdb-go prepares exactly that one
// statement (Conn.Prepare refuses more than one; QueryContext would run all
// but the last of several) and DuckDB's statement type must be SELECT.

// tableFuncs are the table functions an admin query may call: generators
// and functions of their arguments only, and the catalog functions that
// describe the schema.
var tableFuncs = map[string]bool{
	"range": true, "generate_series": true, "unnest": true, "repeat": true, "repeat_row": true,
	"json_each": true, "json_tree": true,
	"duckdb_tables": true, "duckdb_views": true, "duckdb_columns": true,
	"duckdb_constraints": true, "duckdb_indexes": true, "duckdb_schemas": true,
	"duckdb_types": true, "duckdb_functions": true, "duckdb_keywords": true,
	"duckdb_sequences": true, "duckdb_dependencies": true, "duckdb_memory": true,
	"pg_timezone_names": true, "icu_calendar_names": true,
}

// deniedFuncs are the scalar, aggregate and window functions (and macros)
// with effects beyond their result, or that bind SQL given as text.
var deniedFuncs = map[string]bool{
	"nextval":             true, // advances a sequence; a rollback does not undo it
	"setseed":             true, // changes the connection's random state
	"write_log":           true, // writes to DuckDB's log
	"sleep_ms":            true, // holds a worker thread
	"pg_sleep":            true,
	"json_serialize_plan": true, // binds (and so may read files for) SQL given as text
	"current_setting":     true, // shows the process's settings (paths, limits)
	"get_block_size":      true, // a macro over pragma_database_size
}

// sizeFuncs are the scalar functions whose result's size an argument sets
// rather than the data: repeat('x', 1e9), lpad, printf('%01000000000d'),
// the list range(1e9). One call can build gigabytes that DuckDB's
// memory_limit does not count (strings and lists), so an admin query may
// not call them; their table forms (range, generate_series, repeat as
// FROM items) only make rows, which the LIMIT bounds.
var sizeFuncs = map[string]bool{
	"repeat": true, "lpad": true, "rpad": true, "printf": true, "format": true,
	"list_resize": true, "array_resize": true, "range": true, "generate_series": true,
	"bitstring": true, "equi_width_bins": true,
}

// systemViews are the catalog's views an admin query may read: the ones
// describing the schema. Other views of the system catalogs show the
// process — pg_settings and duckdb_settings its settings and paths,
// duckdb_databases its files, duckdb_logs and duckdb_temporary_files
// what it did — and are refused, as their table functions are.
var systemViews = map[string]bool{
	"duckdb_tables": true, "duckdb_views": true, "duckdb_columns": true, "duckdb_constraints": true,
	"duckdb_indexes": true, "duckdb_schemas": true, "duckdb_types": true, "duckdb_functions": true,
	"duckdb_keywords": true, "duckdb_sequences": true, "duckdb_dependencies": true,
	"pg_class": true, "pg_namespace": true, "pg_attribute": true, "pg_type": true, "pg_index": true,
	"pg_tables": true, "pg_views": true, "pg_proc": true, "pg_constraint": true, "pg_attrdef": true,
}

// systemPrefixes mark the names of the system catalogs' views.
var systemPrefixes = []string{"duckdb_", "pg_", "sqlite_"}

// showTables are the SHOW forms without a query that the gate lets through.
var showTables = map[string]bool{`"tables"`: true, "__show_tables_expanded": true}

// knownTypes are the "type" values of parse-tree objects that are not
// expressions: query nodes, table references, result modifiers and order
// directions. Type-info objects end in _TYPE_INFO.
var knownTypes = map[string]bool{
	"SELECT_NODE": true, "SET_OPERATION_NODE": true, "RECURSIVE_CTE_NODE": true, "CTE_NODE": true,
	"BASE_TABLE": true, "SUBQUERY": true, "JOIN": true, "TABLE_FUNCTION": true,
	"EXPRESSION_LIST": true, "EMPTY": true, "PIVOT": true, "SHOW_REF": true,
	"ORDER_MODIFIER": true, "LIMIT_MODIFIER": true, "LIMIT_PERCENT_MODIFIER": true, "DISTINCT_MODIFIER": true,
	"ASCENDING": true, "DESCENDING": true, "ORDER_DEFAULT": true,
}

// refused is a gate refusal with its reason; it matches ErrNotReadOnly.
type refused struct{ why string }

func (r *refused) Error() string        { return ErrNotReadOnly.Error() + ": " + r.why }
func (r *refused) Is(target error) bool { return target == ErrNotReadOnly }

func refuse(format string, args ...any) error { return &refused{why: fmt.Sprintf(format, args...)} }

// gate checks q on conn and returns the text to run: q wrapped in a LIMIT
// of limit rows.
func gate(ctx context.Context, conn *sql.Conn, q string, limit int) (string, error) {
	body := strings.TrimRightFunc(q, unicode.IsSpace)
	body = strings.TrimRightFunc(strings.TrimSuffix(body, ";"), unicode.IsSpace)
	if strings.TrimSpace(body) == "" {
		return "", refuse("empty statement")
	}
	tree, err := parseSelect(ctx, conn, body)
	if err != nil {
		return "", err
	}
	if err := walk(tree); err != nil {
		return "", err
	}
	wrapped := wrapLimit(body, limit)
	outer, err := parseSelect(ctx, conn, wrapped)
	if err != nil {
		return "", refuse("the statement does not stand as a subquery: %v", err)
	}
	inner := dig(outer, "from_table", "subquery", "node")
	if !reflect.DeepEqual(withoutLocations(inner), withoutLocations(tree)) {
		return "", refuse("the statement reads differently as a subquery")
	}
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		// Prepare refuses text of more than one statement; its other
		// errors (the binder's) are the query's own.
		st, err := c.Prepare(wrapped)
		if err != nil {
			return err
		}
		defer func() { _ = st.Close() }()
		typ, err := st.(*duckdb.Stmt).StatementType()
		if err != nil {
			return err
		}
		if typ != duckdb.STATEMENT_TYPE_SELECT {
			return refuse("statement type %d", typ)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return wrapped, nil
}

// wrapLimit puts q, which must not end inside a comment, under a LIMIT. The
// newline ends a trailing -- comment.
func wrapLimit(q string, limit int) string {
	return "SELECT * FROM (\n" + q + "\n) LIMIT " + strconv.Itoa(limit)
}

// parseSelect returns the parse tree of q's only statement, which must be a
// SELECT.
func parseSelect(ctx context.Context, conn *sql.Conn, q string) (map[string]any, error) {
	var js string
	if err := conn.QueryRowContext(ctx, "SELECT CAST(json_serialize_sql(CAST(? AS VARCHAR)) AS VARCHAR)", q).Scan(&js); err != nil {
		return nil, fmt.Errorf("parse statement: %w", err)
	}
	var out struct {
		Error      bool             `json:"error"`
		Message    string           `json:"error_message"`
		Statements []map[string]any `json:"statements"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(js)))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("parse statement: %w", err)
	}
	switch {
	case out.Error:
		return nil, refuse("not a SELECT statement")
	case len(out.Statements) != 1:
		return nil, refuse("%d statements", len(out.Statements))
	}
	node, ok := out.Statements[0]["node"].(map[string]any)
	if !ok {
		return nil, refuse("no query node")
	}
	return node, nil
}

// walk judges every object of a parse tree.
func walk(v any) error {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if err := walk(e); err != nil {
				return err
			}
		}
	case map[string]any:
		if err := judge(x); err != nil {
			return err
		}
		if x["type"] == "TABLE_FUNCTION" && x["class"] == nil {
			// The call itself was judged as a table function; its
			// arguments are expressions like any other.
			f, _ := x["function"].(map[string]any)
			if err := walk(f["children"]); err != nil {
				return err
			}
			for k, e := range x {
				if k != "function" {
					if err := walk(e); err != nil {
						return err
					}
				}
			}
			return nil
		}
		for _, e := range x {
			if err := walk(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func judge(o map[string]any) error {
	if name, ok := o["function_name"].(string); ok {
		if n := strings.ToLower(name); deniedFuncs[n] || strings.HasPrefix(n, "__internal") {
			return refuse("function %s", name)
		}
		if n := strings.ToLower(name); sizeFuncs[n] {
			return refuse("function %s, whose result's size an argument sets (an admin query may not build values of any size)", name)
		}
	}
	typ, ok := o["type"].(string)
	if !ok {
		return nil
	}
	if _, expr := o["class"]; expr {
		return nil // expressions are judged by the functions they call
	}
	switch {
	case typ == "TABLE_FUNCTION":
		f, _ := o["function"].(map[string]any)
		name, _ := f["function_name"].(string)
		if f["class"] != "FUNCTION" || !tableFuncs[strings.ToLower(name)] {
			return refuse("table function %s", name)
		}
	case typ == "BASE_TABLE":
		for _, k := range []string{"catalog_name", "schema_name", "table_name"} {
			if n, _ := o[k].(string); !plainName(n) {
				return refuse("table name %q", n)
			}
		}
		if n := strings.ToLower(fmt.Sprint(o["table_name"])); !systemViews[n] && slices.ContainsFunc(systemPrefixes, func(p string) bool { return strings.HasPrefix(n, p) }) {
			return refuse("system view %s, which shows the process rather than the schema", n)
		}
	case typ == "SHOW_REF":
		if _, ok := o["query"].(map[string]any); !ok && !showTables[strings.ToLower(fmt.Sprint(o["table_name"]))] {
			return refuse("SHOW %v", o["table_name"])
		}
	case knownTypes[typ], strings.HasSuffix(typ, "_TYPE_INFO"):
	default:
		return refuse("%s", typ)
	}
	return nil
}

// plainName reports whether a table, schema or catalog name is an
// identifier of letters, digits and underscores (or empty), which no
// replacement scan takes for a file.
func plainName(n string) bool {
	for _, r := range n {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' {
			return false
		}
	}
	return true
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}

// withoutLocations copies a parse tree without its query_location fields,
// which are offsets into the text.
func withoutLocations(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if k != "query_location" {
				out[k] = withoutLocations(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withoutLocations(e)
		}
		return out
	}
	return v
}
