package filedrop

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/schemas"
)

// The ways a field's text is read.
const (
	TypeString  = "string"
	TypeInteger = "integer"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
	TypeTime    = "time"
	TypeDate    = "date"
	TypeList    = "list"
)

// LayoutExcel accepts Excel serial dates (days since 1899-12-30, the time
// of day as the fraction), the raw value of a date cell in XLSX.
const LayoutExcel = "excel"

// DefaultTimeLayouts are tried for a time field that names no layout.
var DefaultTimeLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006/1/2 15:04:05", "2006/1/2 15:04", "2006-01-02T15:04:05", LayoutExcel}

// DefaultDateLayouts are tried for a date field that names no layout.
var DefaultDateLayouts = []string{"2006-01-02", "2006/1/2", "2006.1.2", "2006年1月2日", LayoutExcel}

var placeholder = regexp.MustCompile(`\{([^{}]*)\}`)

// Shapes the schema's date-time and date formats may accept although Go
// cannot read them (a leap second, a day past the month's end).
var (
	rfc3339Like = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)
	dateLike    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// refusable returns the text of a time that could not be read so that the
// schema refuses it too: as it is, unless it has the shape of a valid one.
func refusable(text string, shape *regexp.Regexp) string {
	if shape.MatchString(text) {
		return text + " (unreadable)"
	}
	return text
}

// note is a conversion problem of one field of one row. Its message never
// carries the value of a personal field.
type note struct {
	field, column, msg string
}

// String names the column and field, for a note listed after another.
func (n note) String() string {
	if n.column == "" || n.column == n.field {
		return n.field + ": " + n.msg
	}
	return n.column + " (" + n.field + "): " + n.msg
}

// converter reads the text of one field.
type converter struct {
	field    string
	column   string // the file's header, for messages
	kind     string
	layouts  []string
	excel    bool
	loc      *time.Location
	values   map[string]string // label → code
	codes    map[string]bool
	labels   string // the known labels, for messages
	personal bool
}

// templatePart is literal text or a field of the id template.
type templatePart struct {
	text, field string
}

// plan is a compiled mapping from a file's columns to one schema's fields.
type plan struct {
	schema    *schemas.Schema
	columns   map[string]string // normalised header → field
	conv      map[string]*converter
	explicit  map[string]bool // fields with types or values in the config (NDJSON strings are converted only then)
	defaults  map[string]any
	keyField  string
	template  string
	parts     []templatePart
	hash      bool
	version   string // the schema's version field
	versionOf string // "" (file time) or the field copied into it
}

// normHeader makes a header comparable: no whitespace of any width, no BOM.
func normHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '\ufeff' || r == '\u200b' {
			return -1
		}
		return r
	}, s)
}

// cleanCell trims ASCII, full-width and non-breaking spaces.
func cleanCell(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' || r == '\u200b' })
}

// inferKind is how a field is read when the config does not say.
func inferKind(t schemas.Type) string {
	switch t {
	case schemas.Timestamp:
		return TypeTime
	case schemas.Date:
		return TypeDate
	case schemas.BigInt:
		return TypeInteger
	case schemas.Double:
		return TypeNumber
	case schemas.Boolean:
		return TypeBoolean
	case schemas.VarcharList:
		return TypeList
	}
	return TypeString
}

// compatible reports whether a field of schema type t may be read as kind.
func compatible(kind string, t schemas.Type) bool {
	switch kind {
	case TypeString:
		return t == schemas.Varchar
	case TypeInteger:
		return t == schemas.BigInt || t == schemas.Double
	case TypeNumber:
		return t == schemas.Double || t == schemas.BigInt
	case TypeBoolean:
		return t == schemas.Boolean
	case TypeTime:
		return t == schemas.Timestamp
	case TypeDate:
		return t == schemas.Date
	case TypeList:
		return t == schemas.VarcharList
	}
	return false
}

// newPlan compiles cfg (already validated) for schema s and reports every
// mismatch between them.
func newPlan(cfg *Config, s *schemas.Schema) (*plan, []FieldError) {
	var errs []FieldError
	p := &plan{schema: s, columns: map[string]string{}, conv: map[string]*converter{}, explicit: map[string]bool{},
		defaults: map[string]any{}, version: s.VersionField}
	if len(s.Key) != 1 {
		errs = append(errs, FieldError{Field: "schema", Msg: fmt.Sprintf("%s has a key of %d fields; the file connector needs one", s.Name, len(s.Key))})
		return nil, errs
	}
	p.keyField = s.Key[0]
	column := map[string]string{} // field → header
	for _, h := range sortedKeys(cfg.Columns) {
		f := cfg.Columns[h]
		if _, ok := s.Column(f); !ok {
			errs = append(errs, FieldError{Field: "columns." + h, Msg: fmt.Sprintf("%q is not a field of %s; known: %s", f, s.Name, strings.Join(fieldNames(s), ", "))})
			continue
		}
		p.columns[normHeader(h)] = f
		column[f] = h
	}
	fields := map[string]bool{}
	for _, f := range cfg.Columns {
		fields[f] = true
	}
	for f := range cfg.Types {
		fields[f] = true
		p.explicit[f] = true
	}
	for f := range cfg.Values {
		fields[f] = true
		p.explicit[f] = true
	}
	for _, f := range sortedKeys(fields) {
		col, ok := s.Column(f)
		if !ok {
			for _, where := range []string{"types", "values"} {
				_, inTypes := cfg.Types[f]
				_, inValues := cfg.Values[f]
				if where == "types" && inTypes || where == "values" && inValues {
					errs = append(errs, FieldError{Field: where + "." + f, Msg: fmt.Sprintf("%q is not a field of %s", f, s.Name)})
				}
			}
			continue
		}
		c := &converter{field: f, column: column[f], personal: col.PII != schemas.PIINone, kind: inferKind(col.Type)}
		if c.column == "" {
			c.column = f
		}
		t, declared := cfg.Types[f]
		if declared {
			c.kind = t.Type
			if !compatible(t.Type, col.Type) {
				errs = append(errs, FieldError{Field: "types." + f + ".type", Msg: fmt.Sprintf("%s cannot fill %s, which is %s in the schema; use %s", t.Type, f, col.Type.SQL(), inferKind(col.Type))})
			}
		}
		switch c.kind {
		case TypeTime, TypeDate:
			c.layouts = slices.Clone([]string(t.Layout))
			if len(c.layouts) == 0 {
				c.layouts = DefaultTimeLayouts
				if c.kind == TypeDate {
					c.layouts = DefaultDateLayouts
				}
			}
			c.layouts = slices.DeleteFunc(slices.Clone(c.layouts), func(l string) bool {
				if l == LayoutExcel {
					c.excel = true
					return true
				}
				return false
			})
			c.loc = time.UTC
			if c.kind == TypeTime {
				if !declared || t.Timezone == "" {
					errs = append(errs, FieldError{Field: "types." + f + ".timezone", Msg: "is required: the time zone of the ledger's naive times, e.g. Asia/Shanghai"})
				} else if loc, err := time.LoadLocation(t.Timezone); err == nil {
					c.loc = loc
				}
			}
		}
		if vals, ok := cfg.Values[f]; ok {
			c.values, c.codes = map[string]string{}, map[string]bool{}
			labels := make([]string, 0, len(vals))
			for label, code := range vals {
				c.values[cleanCell(label)] = code
				c.values[normHeader(label)] = code
				c.codes[code] = true
				labels = append(labels, label)
			}
			sort.Strings(labels)
			c.labels = strings.Join(labels, ", ")
		}
		p.conv[f] = c
	}
	for _, f := range sortedKeys(cfg.Defaults) {
		if _, ok := s.Column(f); !ok {
			errs = append(errs, FieldError{Field: "defaults." + f, Msg: fmt.Sprintf("%q is not a field of %s", f, s.Name)})
			continue
		}
		p.defaults[f] = cfg.Defaults[f]
	}
	p.template, p.hash = cfg.ID.Template, cfg.ID.Hash
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(p.template, -1) {
		f := p.template[m[2]:m[3]]
		if _, ok := s.Column(f); !ok {
			errs = append(errs, FieldError{Field: "id.template", Msg: fmt.Sprintf("{%s} is not a field of %s", f, s.Name)})
		}
		p.parts = append(p.parts, templatePart{text: p.template[last:m[0]]}, templatePart{field: f})
		last = m[1]
	}
	p.parts = append(p.parts, templatePart{text: p.template[last:]})
	if _, mapped := column[p.keyField]; !mapped && p.template == "" && !p.hash && p.defaults[p.keyField] == nil && len(cfg.Columns) > 0 {
		errs = append(errs, FieldError{Field: "id", Msg: fmt.Sprintf("no column fills the key %s: map one in columns, or set id.template (e.g. \"{grid_code}-{target_id}\") or id.hash: true", p.keyField)})
	}
	switch cfg.UpdatedAt {
	case "", UpdatedFileTime:
	default:
		if _, ok := s.Column(cfg.UpdatedAt); !ok {
			errs = append(errs, FieldError{Field: "updated_at", Msg: fmt.Sprintf("%q is neither file_time nor a field of %s", cfg.UpdatedAt, s.Name)})
		}
		p.versionOf = cfg.UpdatedAt
	}
	if p.version == "" {
		p.versionOf = ""
	}
	return p, errs
}

func fieldNames(s *schemas.Schema) []string {
	out := make([]string, 0, len(s.Columns))
	for _, c := range s.Columns {
		out = append(out, c.Name)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// convert reads one non-empty cell. A value that cannot be read is returned
// as its text, so that the schema refuses the record, with a note saying
// why.
func (c *converter) convert(text string) (any, *note) {
	if c.kind == TypeList {
		parts := strings.FieldsFunc(text, func(r rune) bool {
			return r == '、' || r == ',' || r == '，' || r == ';' || r == '；' || r == '\n'
		})
		out := make([]any, 0, len(parts))
		var bad *note
		for _, p := range parts {
			if p = cleanCell(p); p == "" {
				continue
			}
			v, n := c.label(p)
			if n != nil && bad == nil {
				bad = n
			}
			out = append(out, v)
		}
		return out, bad
	}
	text, n := c.label(text)
	if n != nil {
		return text, n
	}
	switch c.kind {
	case TypeInteger:
		s := numeric(text)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), nil
		}
		return text, c.badValue(text, "is not a whole number")
	case TypeNumber:
		f, err := strconv.ParseFloat(numeric(text), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return text, c.badValue(text, "is not a finite number")
		}
		return f, nil
	case TypeBoolean:
		switch strings.ToLower(text) {
		case "是", "true", "1", "y", "yes", "有", "√":
			return true, nil
		case "否", "false", "0", "n", "no", "无", "×":
			return false, nil
		}
		return text, c.badValue(text, "is not yes or no (是/否, true/false, 1/0)")
	case TypeTime:
		if t, ok := c.parseTime(text); ok {
			return t.Format(time.RFC3339Nano), nil
		}
		return refusable(text, rfc3339Like), c.badValue(text, "is not a time written like "+c.layoutList())
	case TypeDate:
		if t, ok := c.parseTime(text); ok {
			return t.Format(time.DateOnly), nil
		}
		return refusable(text, dateLike), c.badValue(text, "is not a date written like "+c.layoutList())
	}
	return text, nil
}

// label maps a label to its code. Text that is already a code is kept.
func (c *converter) label(text string) (string, *note) {
	if c.values == nil {
		return text, nil
	}
	if code, ok := c.values[text]; ok {
		return code, nil
	}
	if code, ok := c.values[normHeader(text)]; ok {
		return code, nil
	}
	if c.codes[text] {
		return text, nil
	}
	if c.personal {
		return text, &note{c.field, c.column, "unknown label; known: " + c.labels}
	}
	return text, &note{c.field, c.column, fmt.Sprintf("unknown label %q; known: %s", masked(text), c.labels)}
}

func (c *converter) bad(why string) *note {
	return &note{c.field, c.column, why}
}

func (c *converter) badValue(text, why string) *note {
	if c.personal {
		return c.bad(why)
	}
	return &note{c.field, c.column, fmt.Sprintf("%q %s", masked(text), why)}
}

// masked is a cell's text as a message may quote it: ID and mobile
// numbers masked (pii.ScrubText, as in dead letters), at most 200 bytes.
func masked(text string) string {
	out, _ := pii.ScrubText(text)
	if len(out) > 200 {
		out = strings.ToValidUTF8(out[:200], "") + "…"
	}
	return out
}

// layoutList shows the accepted layouts as examples a clerk can copy.
func (c *converter) layoutList() string {
	ref := time.Date(2026, 11, 26, 8, 30, 0, 0, time.UTC)
	l := make([]string, 0, len(c.layouts)+1)
	for _, x := range c.layouts {
		l = append(l, ref.Format(x))
	}
	if c.excel {
		l = append(l, "an Excel date cell")
	}
	return strings.Join(l, ", ")
}

// parseTime tries a time with its own offset (RFC 3339), then the layouts
// as wall time in the declared zone, then an Excel serial date.
func (c *converter) parseTime(text string) (time.Time, bool) {
	if c.kind == TypeTime {
		if t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(text)); err == nil {
			return t, true
		}
	}
	for _, l := range c.layouts {
		if t, err := time.ParseInLocation(l, text, c.loc); err == nil {
			return t, true
		}
	}
	if c.excel {
		if f, err := strconv.ParseFloat(text, 64); err == nil {
			return excelTime(f, c.loc)
		}
	}
	return time.Time{}, false
}

// excelTime converts an Excel serial date (1900 date system) to the wall
// time it shows in loc, rounded to the second.
func excelTime(serial float64, loc *time.Location) (time.Time, bool) {
	if math.IsNaN(serial) || serial < 1 || serial >= 2958466 { // 9999-12-31
		return time.Time{}, false
	}
	days := math.Floor(serial)
	secs := math.Round((serial - days) * 86400)
	base := time.Date(1899, 12, 30, 0, 0, 0, 0, loc)
	if serial < 61 { // Excel counts a 29 February 1900 that never was
		base = base.AddDate(0, 0, 1)
	}
	t := base.AddDate(0, 0, int(days))
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, int(secs), 0, loc), true
}

// numeric rewrites full-width digits and signs to ASCII and drops
// thousands separators.
func numeric(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '０' && r <= '９':
			return '0' + (r - '０')
		case r == '．':
			return '.'
		case r == '－':
			return '-'
		case r == '＋':
			return '+'
		case r == ',' || r == '，' || r == ' ':
			return -1
		}
		return r
	}, s)
}

// cell is the text of one field of one row.
type cell struct {
	field, text string
}

// build makes the JSON record of one row: the converted cells, then the
// defaults, the key and the version field. It never fails: what cannot be
// read is carried as text with a note, for the schema to refuse.
func (p *plan) build(obj map[string]any, cells []cell, fileTime time.Time) ([]byte, []note) {
	var notes []note
	for _, c := range cells {
		conv := p.conv[c.field]
		if conv == nil {
			obj[c.field] = c.text
			continue
		}
		v, n := conv.convert(c.text)
		if n != nil {
			notes = append(notes, *n)
		}
		obj[c.field] = v
	}
	for f, v := range p.defaults {
		if _, ok := obj[f]; !ok {
			obj[f] = v
		}
	}
	if _, ok := obj[p.keyField]; !ok && (p.template != "" || p.hash) {
		id, n := p.id(obj, cells)
		if n != nil {
			notes = append(notes, *n)
		} else {
			obj[p.keyField] = id
		}
	}
	if p.version != "" {
		if _, ok := obj[p.version]; !ok {
			if p.versionOf == "" {
				obj[p.version] = fileTime.UTC().Format(time.RFC3339Nano)
			} else if v, ok := obj[p.versionOf]; ok {
				obj[p.version] = v
			}
		}
	}
	raw, err := encodeObject(obj)
	if err != nil { // a default of a type JSON cannot hold
		raw, _ = json.Marshal(map[string]string{"error": "cannot encode the record"})
		notes = append(notes, note{"", "", "cannot encode the record: " + err.Error()})
	}
	return raw, notes
}

// id makes the natural key: the template over converted fields, or a
// SHA-256 of it (or of the row's mapped cells when there is no template).
// It depends only on the row's content, so a re-delivered file makes the
// same keys.
func (p *plan) id(obj map[string]any, cells []cell) (string, *note) {
	if p.template == "" {
		h := sha256.New()
		for _, c := range cells {
			h.Write([]byte(c.field))
			h.Write([]byte{0x1f})
			h.Write([]byte(c.text))
			h.Write([]byte{0x1e})
		}
		return hex.EncodeToString(h.Sum(nil))[:32], nil
	}
	var missing []string
	var b strings.Builder
	for _, part := range p.parts {
		if part.field == "" {
			b.WriteString(part.text)
			continue
		}
		switch v := obj[part.field].(type) {
		case string:
			if v == "" {
				missing = append(missing, part.field)
			}
			b.WriteString(v)
		case nil:
			missing = append(missing, part.field)
		case []any:
			j, _ := json.Marshal(v)
			b.Write(j)
		default:
			fmt.Fprint(&b, v)
		}
	}
	out := b.String()
	if len(missing) > 0 {
		return "", &note{p.keyField, "", fmt.Sprintf("cannot make %s from %q: %s empty", p.keyField, p.template, strings.Join(missing, ", "))}
	}
	if p.hash {
		sum := sha256.Sum256([]byte(out))
		return hex.EncodeToString(sum[:])[:32], nil
	}
	return out, nil
}

// ndjson makes the record of one NDJSON line: an object whose names are
// schema fields (or mapped columns). A line that is not a JSON object is
// passed on as it is, for the schema to refuse as malformed.
func (p *plan) ndjson(line []byte, fileTime time.Time) ([]byte, []note) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil || dec.More() {
		return bytes.Clone(line), nil
	}
	var cells []cell
	for k, v := range obj {
		f := k
		if m, ok := p.columns[normHeader(k)]; ok && m != k {
			f = m
			delete(obj, k)
			obj[f] = v
		}
		if s, ok := v.(string); ok && p.explicit[f] {
			delete(obj, f)
			if s = cleanCell(s); s != "" {
				cells = append(cells, cell{f, s})
			}
		}
	}
	sort.Slice(cells, func(i, j int) bool { return cells[i].field < cells[j].field })
	return p.build(obj, cells, fileTime)
}
