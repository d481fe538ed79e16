package queries

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

//go:embed indicators/*.sql indicators/*_test.yaml rules/*.sql rules/*_test.yaml
var embedded embed.FS

// Embedded returns the query files compiled into the binary: the folders
// of EmbeddedDirs with their *.sql files and their *_test.yaml tests.
func Embedded() fs.FS { return embedded }

// EmbeddedDirs are the folders of Embedded: the indicators and the rules
// (kind: rule, the record-level anomaly patterns).
var EmbeddedDirs = []string{"indicators", "rules"}

// referenceTables are the tables a query may read besides the record
// tables. They have no event time, so they do not count in freshness.
var referenceTables = []string{"areas", "gov_units", "grids", "calendar", "category_sla"}

// Catalog is the set of loaded, checked queries.
type Catalog struct {
	queries []*Query
	byName  map[string]*Query
	reg     *schemas.Registry
}

// Load reads every *.sql file in dir of fsys, parses and checks each
// (header, statement shape, parameters, inputs against the record types of
// reg) and reports every problem of every file at once as Problems.
// Messages quote files as dir/name.sql. The SQL itself is checked against
// DuckDB by Check.
func Load(fsys fs.FS, dir string, reg *schemas.Registry) (*Catalog, error) {
	return loadDirs(fsys, []string{dir}, reg)
}

func loadDirs(fsys fs.FS, dirs []string, reg *schemas.Registry) (*Catalog, error) {
	var files []string
	for _, dir := range dirs {
		found, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
		if err != nil {
			return nil, fmt.Errorf("list query files in %s: %w", dir, err)
		}
		slices.Sort(found)
		files = append(files, found...)
	}
	c := &Catalog{byName: map[string]*Query{}, reg: reg}
	var probs Problems
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read query %s: %w", f, err)
		}
		q, ps := parse(f, raw)
		probs = append(probs, ps...)
		if len(ps) > 0 {
			continue
		}
		probs = append(probs, c.resolveInputs(q)...)
		if o, dup := c.byName[q.Name]; dup {
			probs = append(probs, Problem{File: f, Line: 1, Msg: fmt.Sprintf("name: %s is also the name of %s; names are unique", q.Name, o.File)})
			continue
		}
		c.byName[q.Name] = q
		c.queries = append(c.queries, q)
	}
	if err := orNil(probs); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadEmbedded loads the query files compiled into the binary.
func LoadEmbedded(reg *schemas.Registry) (*Catalog, error) {
	return loadDirs(embedded, EmbeddedDirs, reg)
}

// Queries returns the queries in file order.
func (c *Catalog) Queries() []*Query { return slices.Clone(c.queries) }

// Get returns the query of that name.
func (c *Catalog) Get(name string) (*Query, bool) { q, ok := c.byName[name]; return q, ok }

// resolveInputs checks the inputs against the known tables and the tables
// the SQL names, and records each record table's event-time column.
func (c *Catalog) resolveInputs(q *Query) Problems {
	var probs Problems
	tables := map[string]string{} // table → event-time column ("" for reference tables)
	for _, t := range referenceTables {
		tables[t] = ""
	}
	for _, sc := range c.reg.All() {
		tables[sc.Table] = sc.EventTime
	}
	known := slices.Sorted(func(yield func(string) bool) {
		for t := range tables {
			if !yield(t) {
				return
			}
		}
	})
	q.inputs = nil
	for i, t := range q.Inputs {
		at := q.at[fmt.Sprintf("inputs[%d]", i)]
		ev, ok := tables[t]
		switch {
		case !ok:
			probs = append(probs, Problem{File: q.File, Line: at.line, Col: at.col, Msg: fmt.Sprintf("inputs[%d]: %s is not a table; the tables are %s", i, t, strings.Join(known, ", "))})
			continue
		case !q.reads(t):
			probs = append(probs, Problem{File: q.File, Line: at.line, Col: at.col, Msg: fmt.Sprintf("inputs[%d]: the SQL does not read %s; remove it from inputs", i, t)})
		}
		q.inputs = append(q.inputs, input{table: t, eventTime: ev})
	}
	if q.Kind == KindRule && q.Records != "" && !slices.Contains(q.Inputs, q.Records) {
		at := q.at["records"]
		probs = append(probs, Problem{File: q.File, Line: at.line, Col: at.col, Msg: fmt.Sprintf("records: %s is not among the inputs; name the input table whose ids the rule returns (%s)", q.Records, strings.Join(q.Inputs, ", "))})
	}
	for _, t := range known {
		if at, ok := q.text.words[t]; ok && !slices.Contains(q.Inputs, t) {
			probs = append(probs, Problem{File: q.File, Line: at.line, Col: at.col, Msg: fmt.Sprintf("sql: reads table %s, which inputs does not list; add it to inputs", t)})
		}
	}
	return probs
}

func (q *Query) reads(table string) bool {
	_, ok := q.text.words[table]
	return ok
}

// statement returns the SQL as it is sent to DuckDB: after as many line
// breaks as the header takes, so that DuckDB's "LINE n" is the file's line,
// and without a final semicolon.
func (q *Query) statement() string {
	s := q.SQL
	if n := len(q.text.semicolons); n > 0 && q.text.semicolons[n-1].off == q.text.last {
		off := q.text.semicolons[n-1].off
		s = s[:off] + " " + s[off+1:]
	}
	return strings.Repeat("\n", q.SQLLine-1) + s
}

type column struct{ name, typ string }

// resultColumns are the columns an indicator query returns, in order.
var resultColumns = []column{
	{"area_code", "VARCHAR"},
	{"period_start", "TIMESTAMP WITH TIME ZONE"},
	{"numerator", "DOUBLE"},
	{"denominator", "DOUBLE"},
}

// ruleColumns are the columns a rule returns, in order: one row per
// subject flagged in the period.
var ruleColumns = []column{
	{"subject", "VARCHAR"},
	{"area_code", "VARCHAR"},
	{"observed", "DOUBLE"},
	{"expected", "DOUBLE"},
	{"detail", "VARCHAR"},
	{"records", "VARCHAR[]"},
}

// columns are the result columns of q's kind.
func (q *Query) columns() []column {
	if q.Kind == KindRule {
		return ruleColumns
	}
	return resultColumns
}

// bind returns the named parameters of one period's run in mode: the
// period's bounds, as_of and a rule's parameters.
func (q *Query) bind(start, end, asOf time.Time, mode Mode) []any {
	args := bindings(start, end, asOf)
	for k, v := range q.ParamsFor(mode) {
		args = append(args, sql.Named(k, v))
	}
	return args
}

var duckLine = regexp.MustCompile(`(?m)^LINE (\d+):`)

// Check asks DuckDB to bind every query against db, which must hold the
// record, reference and calendar tables (a running store, or a scratch one:
// see CheckScratch). Nothing is executed. Every problem of every query is
// reported as Problems: the DuckDB error at the file line it names, or
// result columns other than (area_code VARCHAR, period_start TIMESTAMPTZ,
// numerator DOUBLE, denominator DOUBLE).
func (c *Catalog) Check(ctx context.Context, db *sql.DB) error {
	var probs Problems
	for _, q := range c.queries {
		probs = append(probs, q.check(ctx, db)...)
	}
	return orNil(probs)
}

func (q *Query) check(ctx context.Context, db *sql.DB) Problems {
	// Any instant will do: DESCRIBE binds the parameters but runs nothing.
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows, err := db.QueryContext(ctx, "DESCRIBE "+q.statement(), q.bind(at, at, at, Normal)...)
	if err != nil {
		line := q.SQLLine
		msg := err.Error()
		if m := duckLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		return Problems{{File: q.File, Line: line, Msg: "sql: DuckDB: " + oneLine(msg)}}
	}
	defer func() { _ = rows.Close() }()
	var got []column
	for rows.Next() {
		var name, typ string
		var null, key, def, extra sql.NullString
		if err := rows.Scan(&name, &typ, &null, &key, &def, &extra); err != nil {
			return Problems{{File: q.File, Line: q.SQLLine, Msg: "sql: read result columns: " + err.Error()}}
		}
		got = append(got, column{name, typ})
	}
	if err := rows.Err(); err != nil {
		return Problems{{File: q.File, Line: q.SQLLine, Msg: "sql: DuckDB: " + oneLine(err.Error())}}
	}
	var probs Problems
	bad := func(format string, args ...any) {
		probs = append(probs, Problem{File: q.File, Line: q.SQLLine, Msg: "sql: " + fmt.Sprintf(format, args...)})
	}
	want := q.columns()
	names := make([]string, len(want))
	for i, c := range want {
		names[i] = c.name
	}
	list := strings.Join(names, ", ")
	what := "an indicator"
	if q.Kind == KindRule {
		what = "a rule"
	}
	for i, w := range want {
		if i >= len(got) {
			bad("result column %d is missing; %s returns %s", i+1, what, list)
			continue
		}
		g := got[i]
		if g.name != w.name {
			bad("result column %d is %s; it must be %s (%s, in this order)", i+1, g.name, w.name, list)
			continue
		}
		if g.typ != w.typ {
			bad("result column %s is %s; it must be %s: cast it, e.g. CAST(... AS %s)", g.name, g.typ, sqlType(w.typ), sqlType(w.typ))
		}
	}
	for _, g := range got[min(len(got), len(want)):] {
		if g.name == "value" && q.Kind != KindRule {
			bad("result column value: the runner computes the value from numerator and denominator; remove it")
		} else {
			bad("result column %s is one too many; %s returns %s", g.name, what, list)
		}
	}
	return probs
}

func sqlType(duck string) string {
	if duck == "TIMESTAMP WITH TIME ZONE" {
		return "TIMESTAMPTZ"
	}
	return duck
}

// oneLine joins DuckDB's multi-line messages.
func oneLine(s string) string {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' })
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	return strings.Join(slices.DeleteFunc(fields, func(s string) bool { return s == "" }), " | ")
}

// CheckScratch is Check against a throwaway database with every record
// table of the catalog's registry and the reference tables, for checking
// queries without a running store (yiwang check).
func (c *Catalog) CheckScratch(ctx context.Context) (err error) {
	dir, err := os.MkdirTemp("", "yiwang-check-")
	if err != nil {
		return fmt.Errorf("scratch database: %w", err)
	}
	defer func() { err = joinErr(err, os.RemoveAll(dir)) }()
	st, err := scratchStore(ctx, dir, c.reg)
	if err != nil {
		return err
	}
	defer func() { err = joinErr(err, st.Close()) }()
	return c.Check(ctx, st.DB())
}

func scratchStore(ctx context.Context, dir string, reg *schemas.Registry) (*store.Store, error) {
	st, err := store.Open(ctx, filepath.Join(dir, "scratch.duckdb"), store.Options{Threads: 2, MemoryBytes: 1 << 30})
	if err != nil {
		return nil, err
	}
	if err := st.MigrateSchemas(ctx, reg); err != nil {
		_ = st.Close()
		return nil, err
	}
	if err := Migrate(ctx, st); err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}

func joinErr(err, cerr error) error {
	if err != nil {
		return err
	}
	return cerr
}
