// Package mapping turns a record in a platform's own JSON shape into the
// source form of a yiwang schema, declaratively, from the `map:` block of a
// source:
//
//	map:
//	  fields:                                  # schema field: where its value comes from
//	    incident_id: jjdbh                     # shorthand for {path: jjdbh}
//	    received_at: {path: bjsj, time: ["2006-01-02 15:04:05", "2006/1/2 15:04"], timezone: Asia/Shanghai}
//	    call_type: {path: jqxz, values: {报警: report, 求助: assistance, 投诉: complaint}}
//	    grid_code: {path: fsdd.wgbm}           # dotted path into objects; a[0] or a.0 indexes arrays
//	    is_valid: {path: sfyx, values: {是: true, 否: false}}
//	    parties_n: {path: sjrs, type: integer} # "3" → 3
//	    urgency: {path: level, default: normal}
//	    deferred: {expr: 'zt == "挂账"'}
//	    closed_at: {path: jasj, time: ["2006-01-02 15:04:05"], timezone: Asia/Shanghai, optional: true}
//	  keep: [updated_at]                       # source fields copied unchanged, same name
//
// The output holds only the mapped and kept fields. Each field takes its
// value from exactly one of:
//
//   - path: a field of the source record; dots descend into objects, a[0]
//     or a.0 index arrays. A name containing a dot cannot be reached.
//   - expr: an expression of github.com/expr-lang/expr over the source
//     record, compiled once by Compile. Its variables are the record's
//     top-level fields (absent ones are nil), src (the whole record) and out
//     (the kept fields and the path fields, already converted). Path fields
//     are mapped first, expr fields after them, so an expr may use
//     out.grid_code; expr fields do not see each other. Numbers appear as
//     int or float64; only expr's builtins are available; use ?. for
//     nested fields that may be absent (fsdd?.wgbm). A runtime error is a
//     record error of that field.
//
// The value then goes through, in order:
//
//  1. default: when the value is absent, null or a blank string, the default
//     (a value of the schema's form, e.g. normal) is used as it is; without
//     a default an optional field is left out and any other field refuses
//     the record.
//  2. values: a table from the source's labels (compared after trimming
//     spaces; numbers and booleans by their JSON text) to the schema's
//     values, any YAML scalar. A label not in the table refuses the record.
//  3. type: the conversion to the schema field's type. Without type: the
//     schema's type decides (string for text and enums, time for date-time,
//     integer, number, boolean, list); a type that does not fit the schema
//     field is a config error.
//
// Conversions: string trims spaces and writes numbers as their text;
// integer and number take JSON numbers and numeric text (spaces trimmed,
// full-width digits ０-９ read as 0-9) and give a json.Number, as
// schemas.Decode does; boolean takes true/false, "true"/"false", 1/0 and
// "1"/"0" (map other labels with values:); list passes a JSON array through
// and splits text on 、 , ， ; ； (parts trimmed, blanks dropped); time
// parses with each layout of `time:` in turn (Go layouts, plus unix and
// unix_ms for epoch seconds and milliseconds) and always RFC 3339, in the
// zone of `timezone:` unless the text carries its own offset, and writes
// RFC 3339 in UTC ("2026-03-01T02:00:00Z", fractional seconds kept) — or
// the date in that zone for a date field. `time:` needs `timezone:`, since a
// naive timestamp means nothing without a zone.
//
// Errors: Compile checks a Config against the schema and returns every
// problem with its path inside the map block ("fields.received_at.timezone")
// and what to change. Apply refuses a record with a *schemas.RecordError of
// reason ReasonMapping naming the schema field, the source path and the
// value (never the value of a personal field; ID and phone numbers in
// echoed values are masked).
//
// The package exports no metrics; the runner counts refused records under
// yiwang_deadletters_total{reason="mapping"}.
package mapping

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/yiwang-gov/yiwang/internal/diag"
	"github.com/yiwang-gov/yiwang/schemas"
)

// ReasonMapping is the reason code of a record the mapping refused. It
// labels metrics and travels in the dead-letter header yiwang.error.code
// like the reasons of the schemas package.
const ReasonMapping = "mapping"

// maxExprNodes bounds the size of one expression.
const maxExprNodes = 500

// Config is the `map:` block of a source.
type Config struct {
	// Fields maps each schema field to where its value comes from.
	Fields map[string]Field `yaml:"fields"`
	// Keep lists source fields copied unchanged under the same name.
	Keep []string `yaml:"keep"`
}

// Field says where one schema field's value comes from and how it is
// converted. In YAML a plain string is shorthand for {path: <string>}.
type Field struct {
	// Path is where the value is in the source record (fsdd.wgbm, a[0]).
	Path string `yaml:"path"`
	// Expr computes the value instead; exactly one of Path and Expr is set.
	Expr string `yaml:"expr"`
	// Type is string, integer, number, boolean, time or list; empty means
	// the schema field's type.
	Type string `yaml:"type"`
	// Time lists the layouts of a time value (Go layouts, unix, unix_ms);
	// RFC 3339 is always accepted. In YAML one layout may stand alone.
	Time []string `yaml:"time"`
	// Timezone is the IANA zone of naive times, e.g. Asia/Shanghai;
	// required with Time.
	Timezone string `yaml:"timezone"`
	// Values maps source labels to schema values.
	Values map[string]any `yaml:"values"`
	// Default is used when the value is absent, null or blank.
	Default any `yaml:"default"`
	// Optional leaves the field out when the value is absent, null or
	// blank, instead of refusing the record.
	Optional bool `yaml:"optional"`

	// unknown are the keys of the YAML form that a field mapping does not
	// have; Compile reports them, each at its own place, beside every other
	// problem (a misspelt `optinal: true` must not pass unnoticed).
	unknown []string
}

var fieldKeys = []string{"default", "expr", "optional", "path", "time", "timezone", "type", "values"}

// UnmarshalYAML decodes the shorthand (a path) or the full form. A value of
// the wrong shape is reported as "line N: ..."; an unknown key is kept for
// Compile to report, so that one run of yiwang check lists it with every
// other problem of the file.
func (f *Field) UnmarshalYAML(n *yaml.Node) error {
	*f = Field{}
	var errs []string
	bad := func(at *yaml.Node, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("line %d: %s", at.Line, fmt.Sprintf(format, args...)))
	}
	switch n.Kind {
	case yaml.ScalarNode:
		f.Path = n.Value
		return nil
	case yaml.MappingNode:
	default:
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a field mapping is a path (e.g. jjdbh) or a mapping with %s", n.Line, strings.Join(fieldKeys, ", "))}}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		scalar := func(out any, want string) {
			if v.Kind != yaml.ScalarNode {
				bad(v, "%s: must be %s", k.Value, want)
				return
			}
			if err := v.Decode(out); err != nil {
				bad(v, "%s: must be %s, got %q", k.Value, want, v.Value)
			}
		}
		switch k.Value {
		case "path":
			scalar(&f.Path, "a path such as fsdd.wgbm")
		case "expr":
			scalar(&f.Expr, "an expression")
		case "type":
			scalar(&f.Type, "a type name")
		case "timezone":
			scalar(&f.Timezone, "a time zone such as Asia/Shanghai")
		case "optional":
			scalar(&f.Optional, "true or false")
		case "default":
			if v.Kind != yaml.ScalarNode {
				bad(v, "default: must be a single value")
				continue
			}
			_ = v.Decode(&f.Default) // a scalar always decodes into any
		case "time":
			switch v.Kind {
			case yaml.ScalarNode:
				f.Time = []string{v.Value}
			case yaml.SequenceNode:
				for _, l := range v.Content {
					if l.Kind != yaml.ScalarNode {
						bad(l, "time: layouts must be strings such as \"2006-01-02 15:04:05\"")
						continue
					}
					f.Time = append(f.Time, l.Value)
				}
			default:
				bad(v, "time: must be a layout or a list of layouts")
			}
		case "values":
			if v.Kind != yaml.MappingNode {
				bad(v, "values: must be a mapping from source labels to schema values")
				continue
			}
			f.Values = map[string]any{}
			for j := 0; j+1 < len(v.Content); j += 2 {
				lk, lv := v.Content[j], v.Content[j+1]
				if lk.Kind != yaml.ScalarNode || lv.Kind != yaml.ScalarNode {
					bad(lk, "values: labels and values must be single values")
					continue
				}
				if _, dup := f.Values[lk.Value]; dup {
					bad(lk, "values: label %q appears twice", lk.Value)
					continue
				}
				var out any
				_ = lv.Decode(&out)
				f.Values[lk.Value] = out
			}
		default:
			f.unknown = append(f.unknown, k.Value)
		}
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// FieldError is one problem of a Config; Field is its path inside the map
// block, e.g. "fields.received_at.timezone" or "keep.0".
type FieldError = diag.FieldError

// kind is what a field's value is converted to.
type kind int

const (
	kindString kind = iota
	kindInteger
	kindNumber
	kindBoolean
	kindTime
	kindList
)

var kindNames = []string{"string", "integer", "number", "boolean", "time", "list"}

func (k kind) String() string { return kindNames[k] }

// fits reports whether a value of kind k can be stored in a column of type t.
func (k kind) fits(t schemas.Type) bool {
	switch t {
	case schemas.Varchar:
		return k == kindString
	case schemas.Timestamp:
		return k == kindTime
	case schemas.Date:
		return k == kindString || k == kindTime
	case schemas.BigInt:
		return k == kindInteger
	case schemas.Double:
		return k == kindNumber || k == kindInteger
	case schemas.Boolean:
		return k == kindBoolean
	case schemas.VarcharList:
		return k == kindList
	}
	return false
}

func kindOf(t schemas.Type) kind {
	return map[schemas.Type]kind{schemas.Varchar: kindString, schemas.Timestamp: kindTime, schemas.Date: kindString,
		schemas.BigInt: kindInteger, schemas.Double: kindNumber, schemas.Boolean: kindBoolean, schemas.VarcharList: kindList}[t]
}

// Mapping is a compiled Config. It is safe for concurrent use.
type Mapping struct {
	schema   string
	keep     []string
	pathF    []*field // in name order
	exprF    []*field // in name order
	personal [][]step // source paths whose values feed personal fields
}

type field struct {
	name     string
	label    string // the path, or "expr": how error messages name the source
	path     []step
	prog     *vm.Program
	kind     kind
	date     bool // a time written as a date
	layouts  []string
	loc      *time.Location
	values   map[string]any // label → converted value
	labels   []string       // sorted, for messages
	def      any
	hasDef   bool
	optional bool
	personal bool     // never echo the value
	names    []string // an expression's source fields: the names it uses, src.<name> included
	zoned    bool     // timezone was given: a date is taken there, else in the time's own offset
}

// Compile checks cfg against the source form of sc and compiles it. It
// returns every problem, each naming its place in the map block and what to
// change; the Mapping is nil when there is any.
func Compile(cfg Config, sc *schemas.Schema) (*Mapping, []FieldError) {
	var errs []FieldError
	bad := func(at, format string, args ...any) {
		errs = append(errs, FieldError{Field: at, Msg: fmt.Sprintf(format, args...)})
	}
	colNames := make([]string, len(sc.Columns))
	for i, c := range sc.Columns {
		colNames[i] = c.Name
	}
	unknown := func(at, name string) {
		bad(at, "unknown schema field %q; %s has: %s", name, sc.Name, strings.Join(colNames, ", "))
	}
	m := &Mapping{schema: sc.Name}
	names := make([]string, 0, len(cfg.Fields))
	for name := range cfg.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		at := "fields." + name
		for _, k := range cfg.Fields[name].unknown {
			bad(at+"."+k, "unknown key; a field mapping has %s", strings.Join(fieldKeys, ", "))
		}
		col, ok := sc.Column(name)
		if !ok {
			unknown(at, name)
			continue
		}
		f, ferrs := compileField(at, name, col, cfg.Fields[name], sc)
		errs = append(errs, ferrs...)
		if f == nil {
			continue
		}
		if f.prog != nil {
			m.exprF = append(m.exprF, f)
		} else {
			m.pathF = append(m.pathF, f)
			if f.personal {
				m.personal = append(m.personal, f.path)
			}
		}
	}
	seen := map[string]bool{}
	for i, k := range cfg.Keep {
		at := "keep." + strconv.Itoa(i)
		col, ok := sc.Column(k)
		switch {
		case !ok:
			unknown(at, k)
		case seen[k]:
			bad(at, "%q is listed twice", k)
		case hasField(cfg, k):
			bad(at, "%s is also under fields; give it in one place", k)
		default:
			m.keep = append(m.keep, k)
			if col.PII != schemas.PIINone {
				m.personal = append(m.personal, []step{{key: k}})
			}
		}
		seen[k] = true
	}
	var missing []string
	for _, c := range sc.Columns {
		if !c.Nullable && !hasField(cfg, c.Name) && !slices.Contains(cfg.Keep, c.Name) {
			missing = append(missing, c.Name)
		}
	}
	if len(missing) > 0 {
		bad("fields", "%s requires %s: map them here or list them in keep", sc.Name, strings.Join(missing, ", "))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return m, nil
}

func hasField(cfg Config, name string) bool {
	_, ok := cfg.Fields[name]
	return ok
}

func compileField(at, name string, col schemas.Column, spec Field, sc *schemas.Schema) (*field, []FieldError) {
	var errs []FieldError
	bad := func(sub, format string, args ...any) {
		p := at
		if sub != "" {
			p += "." + sub
		}
		errs = append(errs, FieldError{Field: p, Msg: fmt.Sprintf(format, args...)})
	}
	f := &field{name: name, optional: spec.Optional, personal: col.PII != schemas.PIINone}
	switch {
	case spec.Path == "" && spec.Expr == "":
		bad("", "needs path (where the value is in the source record) or expr (how to compute it)")
	case spec.Path != "" && spec.Expr != "":
		bad("", "has both path and expr; give one")
	case spec.Path != "":
		f.label = spec.Path
		p, err := parsePath(spec.Path)
		if err != nil {
			bad("path", "%v", err)
		}
		f.path = p
	default:
		f.label = "expr"
		prog, err := compileExpr(spec.Expr)
		if err != nil {
			bad("expr", "%v", err)
		} else {
			f.names = exprNames(prog)
		}
		f.prog = prog
	}

	f.kind = kindOf(col.Type)
	kindOK := true
	if spec.Type != "" {
		k := slices.Index(kindNames, spec.Type)
		switch {
		case k < 0:
			bad("type", "unknown type %q; use string, integer, number, boolean, time or list", spec.Type)
			kindOK = false
		case !kind(k).fits(col.Type):
			bad("type", "type %s does not fit %s (%s); use %s", spec.Type, name, col.Type.SQL(), kindOf(col.Type))
			kindOK = false
		default:
			f.kind = kind(k)
		}
	}
	if len(spec.Time) > 0 && spec.Type == "" && col.Type == schemas.Date {
		f.kind = kindTime
	}
	f.date = col.Type == schemas.Date
	if len(spec.Time) > 0 {
		switch {
		case f.kind == kindTime:
		case col.Type == schemas.Timestamp || col.Type == schemas.Date:
			bad("time", "time layouts need type time; remove type %s", spec.Type)
		default:
			bad("time", "time layouts need a time field; %s is %s", name, col.Type.SQL())
		}
		for i, l := range spec.Time {
			if err := checkLayout(l); err != nil {
				bad("time."+strconv.Itoa(i), "%v", err)
			}
		}
		f.layouts = spec.Time
		if spec.Timezone == "" {
			bad("timezone", "time needs timezone: the zone of naive times, e.g. Asia/Shanghai")
		}
	} else if spec.Timezone != "" && !f.date {
		bad("timezone", "has no effect without time layouts; remove it or add time")
	}
	if spec.Timezone != "" {
		loc, err := time.LoadLocation(spec.Timezone)
		if err != nil || spec.Timezone == "Local" {
			bad("timezone", "unknown time zone %q: use an IANA name such as Asia/Shanghai", spec.Timezone)
		}
		f.loc = loc
	}
	f.zoned = f.loc != nil
	if f.loc == nil {
		f.loc = time.UTC
	}
	if !kindOK {
		return nil, errs // values and default convert to the kind
	}

	if spec.Values != nil {
		if len(spec.Values) == 0 {
			bad("values", "is empty; list the source's labels or remove values")
		}
		f.values = map[string]any{}
		for _, label := range slices.Sorted(maps.Keys(spec.Values)) {
			v := spec.Values[label]
			key := strings.TrimSpace(label)
			f.labels = append(f.labels, key)
			if v == nil {
				f.values[key] = nil
				continue
			}
			out, err := f.convert(yamlValue(v))
			if err != nil {
				bad("values."+label, "%s", err.msg(false))
				continue
			}
			if msg := notInEnum(out, col); msg != "" {
				bad("values."+label, "%s", msg)
				continue
			}
			f.values[key] = out
		}
		sort.Strings(f.labels)
	}
	if spec.Default != nil {
		out, err := f.convert(yamlValue(spec.Default))
		if err != nil {
			bad("default", "%s", err.msg(false))
		} else if msg := notInEnum(out, col); msg != "" {
			bad("default", "%s", msg)
		}
		f.def, f.hasDef = out, true
	}
	if spec.Optional && !col.Nullable {
		bad("optional", "%s is required by %s: give a default instead, or remove optional", name, sc.Name)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return f, nil
}

// yamlValue turns what YAML decodes into a value of the kind schemas.Decode
// gives: numbers become json.Number.
func yamlValue(v any) any {
	switch x := v.(type) {
	case int, int64, uint64, float64:
		return number(x)
	case time.Time: // YAML reads 2026-03-01 as a timestamp
		if x.Equal(x.Truncate(24*time.Hour)) && x.Location() == time.UTC {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.RFC3339Nano)
	}
	return v
}

// checkLayout refuses a layout that cannot read a date: a Go layout writes
// the reference time Mon Jan 2 15:04:05 2006 as the source writes it.
func checkLayout(l string) error {
	if l == "unix" || l == "unix_ms" {
		return nil
	}
	// A zone abbreviation (MST) is read as an unknown zone at offset 0
	// for any abbreviation Go does not know (CST, JST...): a silent shift.
	if strings.Contains(strings.ReplaceAll(l, "-0700", ""), "MST") {
		return fmt.Errorf("layout %q reads a zone abbreviation (MST), which Go takes as UTC for zones it does not know; write the offset (-0700 or Z07:00) or leave the zone out and set timezone", l)
	}
	ref := time.Date(2026, 11, 26, 8, 30, 45, 0, time.UTC)
	t, err := time.Parse(l, ref.Format(l))
	if err != nil || t.Year() != ref.Year() || t.Month() != ref.Month() || t.Day() != ref.Day() {
		return fmt.Errorf("layout %q is not a Go time layout: write the reference time Mon Jan 2 15:04:05 2006 as the source writes it, e.g. 2006-01-02 15:04:05 (or unix, unix_ms)", l)
	}
	return nil
}

func compileExpr(src string) (*vm.Program, error) {
	prog, err := expr.Compile(src, expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.MaxNodes(maxExprNodes))
	if err != nil {
		return nil, fmt.Errorf("%s", firstLine(err.Error()))
	}
	// With undefined variables allowed, foo(1) compiles into a call of nil;
	// say so now rather than at every record.
	var uerr error
	root := prog.Node()
	ast.Walk(&root, visitor(func(n *ast.Node) {
		if c, ok := (*n).(*ast.CallNode); ok && uerr == nil {
			if id, ok := c.Callee.(*ast.IdentifierNode); ok {
				line, col := position(src, c.Location().From)
				uerr = fmt.Errorf("unknown function %s (%d:%d); only expr's builtins are available, e.g. len, trim, upper, split, now", id.Value, line, col)
			}
		}
	}))
	if uerr != nil {
		return nil, uerr
	}
	return prog, nil
}

type visitor func(*ast.Node)

func (v visitor) Visit(n *ast.Node) { v(n) }

// position turns a rune offset of src into expr's 1-based line:column.
func position(src string, from int) (int, int) {
	line, col, i := 1, 1, 0
	for _, r := range src {
		if i == from {
			break
		}
		i++
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// notInEnum says what is wrong with a value an enumerated field cannot
// take; "" when it can (or the field is no enumeration).
func notInEnum(v any, col schemas.Column) string {
	s, ok := v.(string)
	if len(col.Enum) == 0 || !ok || slices.Contains(col.Enum, s) {
		return ""
	}
	return fmt.Sprintf("%q is not a value of %s; it takes %s", s, col.Name, strings.Join(col.Enum, ", "))
}

// exprNames returns the top-level source fields an expression may read:
// every identifier, and the member names of src.<name>. (A name of a
// builtin or of out is harmless: it selects no source field.)
func exprNames(prog *vm.Program) []string {
	v := &nameVisitor{seen: map[string]bool{}}
	root := prog.Node()
	ast.Walk(&root, v)
	return v.list
}

type nameVisitor struct {
	seen map[string]bool
	list []string
}

func (v *nameVisitor) add(n string) {
	if !v.seen[n] {
		v.seen[n] = true
		v.list = append(v.list, n)
	}
}

func (v *nameVisitor) Visit(node *ast.Node) {
	switch x := (*node).(type) {
	case *ast.IdentifierNode:
		v.add(x.Value)
	case *ast.MemberNode:
		if id, ok := x.Node.(*ast.IdentifierNode); ok && id.Value == "src" {
			if s, ok := x.Property.(*ast.StringNode); ok {
				v.add(s.Value)
			}
		}
	}
}
