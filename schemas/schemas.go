// Package schemas holds yiwang's data contracts: one JSON Schema 2020-12 file
// per record type, each with an x-yiwang block naming its table, topic, natural
// key, event-time field, version field and area field.
//
// From one file the package derives the validator (JSON Schema plus the domain
// checks of area codes, credit-code and resident-ID checksums and mobile
// numbers), the column model from which the DuckDB DDL and the Arrow schema are
// built, and the decoded row the loader appends. It imports nothing of yiwang's.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/yiwang-gov/yiwang/internal/diag"
)

//go:embed *.schema.json
var embedded embed.FS

// Embedded returns the schema files compiled into the binary.
func Embedded() fs.FS { return embedded }

// Type is a column's logical type, derived from a property's JSON Schema type
// and format.
type Type int

// The logical types a property may have.
const (
	Varchar Type = iota
	Timestamp
	Date
	BigInt
	Double
	Boolean
	VarcharList
)

// SQL returns the DuckDB type of t.
func (t Type) SQL() string {
	return [...]string{"VARCHAR", "TIMESTAMPTZ", "DATE", "BIGINT", "DOUBLE", "BOOLEAN", "VARCHAR[]"}[t]
}

// PII says what the connector does with a personal-data field before Kafka.
type PII string

// The x-pii treatments.
const (
	PIINone PII = ""
	PIIHMAC PII = "hmac" // keyed pseudonym plus masked display form
	PIIMask PII = "mask" // masked display form only
	PIIDrop PII = "drop" // never leaves the connector
	PIIScan PII = "scan" // free text: ID and phone numbers in it are masked
)

// Protected-column roles: what a table column holds for the personal field
// it replaces.
const (
	RoleKey       = "key"        // keyed pseudonym, "<key version>:<hex HMAC-SHA256>"
	RoleMasked    = "masked"     // display form, e.g. 220***********0425
	RoleBirthYear = "birth_year" // from a resident ID
	RoleGender    = "gender"     // M or F, from a resident ID
)

// KeyPattern is the form of a pseudonym column's value.
const KeyPattern = `^[A-Za-z0-9._-]{1,32}:[0-9a-f]{64}$`

// Check names a domain check run after JSON Schema validation.
type Check string

// The domain checks a property may ask for with x-check.
const (
	CheckNone          Check = ""
	CheckGridCode      Check = "grid_code"
	CheckCommunityCode Check = "community_code"
	CheckAreaCode      Check = "area_code"
	CheckUSCI          Check = "usci"
	CheckResidentID    Check = "resident_id"
	CheckMobile        Check = "mobile"
)

// Column is one property of a record type.
type Column struct {
	Name        string
	Type        Type
	Nullable    bool // not in "required"
	PII         PII
	Check       Check
	Description string
	// Derive lists what a resident-ID field also yields (x-pii-derive:
	// birth_year, gender).
	Derive []string
	// Enum lists the allowed values of an enumerated field (null aside);
	// nil when the field is not an enumeration.
	Enum []string
	// Source and Role are set on a protected column: the personal field it
	// replaces and what it holds of it (RoleKey, RoleMasked, ...).
	Source, Role string
}

// Schema is one record type.
type Schema struct {
	Name         string // grid_event
	File         string // grid_event.schema.json
	Major        int
	Title        string
	Table        string
	Topic        string
	Key          []string
	EventTime    string
	VersionField string
	AreaField    string
	// Columns are all properties of the source form in file order,
	// personal fields included.
	Columns []Column

	table    []Column           // the topic and table form
	compiled *jsonschema.Schema // the source form
	topic    *jsonschema.Schema // the topic form
	fast     *fastSchema        // nil: every record takes the full validator
	index    map[string]int
}

// Column returns the named column.
func (s *Schema) Column(name string) (Column, bool) {
	i, ok := s.index[name]
	if !ok {
		return Column{}, false
	}
	return s.Columns[i], true
}

// TableColumns returns the columns of the topic form, which are the
// table's: every property of the source form except personal fields, which
// are replaced by protected columns — for x-pii hmac `<field>_key` (the keyed
// pseudonym) and `<field>_masked`, plus `<field>_birth_year` and
// `<field>_gender` where x-pii-derive asks; for mask only `<field>_masked`;
// for drop nothing. Free text marked scan stays, masked.
func (s *Schema) TableColumns() []Column { return s.table }

func protectedColumns(c Column) []Column {
	mk := func(role string, t Type, desc string) Column {
		return Column{Name: c.Name + "_" + role, Type: t, Nullable: true, Source: c.Name, Role: role,
			Description: c.Description + " (" + desc + ")"}
	}
	switch c.PII {
	case PIINone, PIIScan:
		return []Column{c}
	case PIIHMAC:
		out := []Column{mk(RoleKey, Varchar, "keyed pseudonym"), mk(RoleMasked, Varchar, "masked")}
		for _, d := range c.Derive {
			switch d {
			case RoleBirthYear:
				out = append(out, mk(RoleBirthYear, BigInt, "birth year"))
			case RoleGender:
				out = append(out, mk(RoleGender, Varchar, "gender"))
			}
		}
		return out
	case PIIMask:
		return []Column{mk(RoleMasked, Varchar, "masked")}
	}
	return nil
}

// Registry is the set of loaded record types.
type Registry struct {
	byName  map[string]*Schema
	byTopic map[string]*Schema
	names   []string
}

// Names returns the record type names in sorted order.
func (r *Registry) Names() []string { return slices.Clone(r.names) }

// All returns the schemas in name order.
func (r *Registry) All() []*Schema {
	out := make([]*Schema, 0, len(r.names))
	for _, n := range r.names {
		out = append(out, r.byName[n])
	}
	return out
}

// Get returns the schema of a record type.
func (r *Registry) Get(name string) (*Schema, bool) { s, ok := r.byName[name]; return s, ok }

// ByTopic returns the schema whose records travel on topic.
func (r *Registry) ByTopic(topic string) (*Schema, bool) { s, ok := r.byTopic[topic]; return s, ok }

// Problem is one thing wrong in a schema file (diag.Problem).
type Problem = diag.Problem

// Problems collects every problem found while loading, so that a user sees
// them all at once.
type Problems = diag.Problems

// Load reads every *.schema.json file of fsys. It reports all problems of all
// files together as Problems.
func Load(fsys fs.FS) (*Registry, error) {
	files, err := fs.Glob(fsys, "*.schema.json")
	if err != nil {
		return nil, fmt.Errorf("list schema files: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.schema.json files found")
	}
	sort.Strings(files)
	reg := &Registry{byName: map[string]*Schema{}, byTopic: map[string]*Schema{}}
	var probs Problems
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", f, err)
		}
		s, ps := parse(f, raw)
		probs = append(probs, ps...)
		if s == nil {
			continue
		}
		if o, dup := reg.byTopic[s.Topic]; dup {
			probs = append(probs, Problem{File: f, Line: lineOf(raw, `"topic"`), Msg: fmt.Sprintf("x-yiwang.topic %q is also used by %s; give each record type its own topic", s.Topic, o.File)})
			continue
		}
		reg.byName[s.Name] = s
		reg.byTopic[s.Topic] = s
		reg.names = append(reg.names, s.Name)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return reg, nil
}

// LoadEmbedded loads the schemas compiled into the binary.
func LoadEmbedded() (*Registry, error) { return Load(embedded) }

type xYiwang struct {
	Table        string   `json:"table"`
	Topic        string   `json:"topic"`
	Key          []string `json:"key"`
	EventTime    string   `json:"event_time"`
	VersionField string   `json:"version_field"`
	AreaField    string   `json:"area_field"`
}

type property struct {
	Type   any    `json:"type"`
	Format string `json:"format"`
	Enum   []any  `json:"enum"`
	Items  *struct {
		Type any `json:"type"`
	} `json:"items"`
	PII         string   `json:"x-pii"`
	Derive      []string `json:"x-pii-derive"`
	Check       string   `json:"x-check"`
	Description string   `json:"description"`
}

type fileDoc struct {
	Schema     string          `json:"$schema"`
	ID         string          `json:"$id"`
	Title      string          `json:"title"`
	XYiwang    *xYiwang        `json:"x-yiwang"`
	Required   []string        `json:"required"`
	Properties json.RawMessage `json:"properties"`
}

const draft2020 = "https://json-schema.org/draft/2020-12/schema"

func parse(file string, raw []byte) (*Schema, Problems) {
	var probs Problems
	bad := func(needle, format string, args ...any) {
		probs = append(probs, Problem{File: file, Line: lineOf(raw, needle), Msg: fmt.Sprintf(format, args...)})
	}
	name, ok := strings.CutSuffix(path.Base(file), ".schema.json")
	if !ok || !validIdent(name) {
		bad("", "file name must be <record>.schema.json with a lowercase snake_case record name")
		return nil, probs
	}
	var doc fileDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		line := 0
		var se *json.SyntaxError
		if ok := asSyntax(err, &se); ok {
			line = 1 + bytes.Count(raw[:se.Offset], []byte("\n"))
		}
		probs = append(probs, Problem{File: file, Line: line, Msg: fmt.Sprintf("not valid JSON: %v", err)})
		return nil, probs
	}
	if doc.Schema != draft2020 {
		bad(`"$schema"`, "$schema must be %q, got %q", draft2020, doc.Schema)
	}
	x := doc.XYiwang
	if x == nil {
		bad("", `missing the "x-yiwang" block (table, topic, key, event_time, version_field, area_field)`)
		return nil, probs
	}
	props, order, err := orderedProperties(doc.Properties)
	if err != nil {
		bad(`"properties"`, "properties: %v", err)
		return nil, probs
	}
	s := &Schema{Name: name, File: file, Title: doc.Title, Table: x.Table, Topic: x.Topic, Key: x.Key,
		EventTime: x.EventTime, VersionField: x.VersionField, AreaField: x.AreaField, index: map[string]int{}}
	if !validIdent(x.Table) {
		bad(`"table"`, "x-yiwang.table must be a lowercase snake_case name, got %q", x.Table)
	}
	var major int
	if _, err := fmt.Sscanf(strings.TrimPrefix(x.Topic, "yiwang."+name+".v"), "%d", &major); err != nil || x.Topic != fmt.Sprintf("yiwang.%s.v%d", name, major) || major < 1 {
		bad(`"topic"`, "x-yiwang.topic must be yiwang.%s.v<major>, got %q", name, x.Topic)
	}
	s.Major = major
	required := map[string]bool{}
	for _, r := range doc.Required {
		required[r] = true
	}
	for _, pname := range order {
		p := props[pname]
		c := Column{Name: pname, Nullable: !required[pname], PII: PII(p.PII), Check: Check(p.Check), Description: p.Description, Derive: p.Derive}
		for _, e := range p.Enum {
			if v, ok := e.(string); ok {
				c.Enum = append(c.Enum, v)
			}
		}
		if !validIdent(pname) {
			bad(`"`+pname+`"`, "property %q: names must be lowercase snake_case (they become column names)", pname)
		}
		t, err := columnType(p)
		if err != nil {
			bad(`"`+pname+`"`, "property %q: %v", pname, err)
		}
		c.Type = t
		switch c.PII {
		case PIINone, PIIHMAC, PIIMask, PIIDrop, PIIScan:
		default:
			bad(`"`+pname+`"`, "property %q: x-pii must be hmac, mask, drop or scan, got %q", pname, p.PII)
		}
		if c.PII == PIIScan && c.Type != Varchar {
			bad(`"`+pname+`"`, "property %q: x-pii scan is for free text; the type must be string", pname)
		}
		if c.PII == PIIHMAC && c.Check != CheckResidentID && c.Check != CheckMobile {
			bad(`"`+pname+`"`, "property %q: x-pii hmac needs x-check resident_id or mobile, so that the value is normalised before it is keyed", pname)
		}
		for _, d := range c.Derive {
			if (d != RoleBirthYear && d != RoleGender) || c.Check != CheckResidentID || c.PII != PIIHMAC {
				bad(`"`+pname+`"`, "property %q: x-pii-derive may list birth_year and gender, on an x-pii hmac resident_id field; got %q", pname, d)
			}
		}
		switch c.Check {
		case CheckNone, CheckGridCode, CheckCommunityCode, CheckAreaCode, CheckUSCI, CheckResidentID, CheckMobile:
		default:
			bad(`"`+pname+`"`, "property %q: x-check must be one of grid_code, community_code, area_code, usci, resident_id, mobile; got %q", pname, p.Check)
		}
		if c.PII != PIINone && c.PII != PIIScan && required[pname] {
			bad(`"`+pname+`"`, "property %q is x-pii and so cannot be required: it never reaches the topic in clear", pname)
		}
		s.index[pname] = len(s.Columns)
		s.Columns = append(s.Columns, c)
	}
	for _, r := range doc.Required {
		if _, ok := s.index[r]; !ok {
			bad(`"required"`, "required names %q, which is not a property", r)
		}
	}
	need := func(field, what string, types ...Type) {
		c, ok := s.Column(field)
		switch {
		case field == "":
			bad(`"x-yiwang"`, "x-yiwang.%s is missing", what)
		case !ok:
			bad(`"`+what+`"`, "x-yiwang.%s names %q, which is not a property", what, field)
		case c.Nullable:
			bad(`"`+what+`"`, "x-yiwang.%s field %q must be required", what, field)
		case c.PII != PIINone && c.PII != PIIScan:
			bad(`"`+what+`"`, "x-yiwang.%s field %q must not be personal data", what, field)
		case len(types) > 0 && !slices.Contains(types, c.Type):
			bad(`"`+what+`"`, "x-yiwang.%s field %q must be of type %s", what, field, types[0].SQL())
		}
	}
	if len(x.Key) == 0 {
		bad(`"key"`, "x-yiwang.key must name at least one field")
	}
	for _, k := range x.Key {
		need(k, "key", Varchar, BigInt, Date)
	}
	need(x.EventTime, "event_time", Timestamp)
	need(x.VersionField, "version_field", Timestamp, BigInt)
	need(x.AreaField, "area_field", Varchar)
	if len(probs) > 0 {
		return nil, probs
	}
	for _, c := range s.Columns {
		for _, pc := range protectedColumns(c) {
			if pc.Source != "" {
				if _, clash := s.index[pc.Name]; clash {
					bad(`"`+pc.Name+`"`, "property %q clashes with the protected column of %q; rename it", pc.Name, pc.Source)
				}
			}
			s.table = append(s.table, pc)
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	topicRaw, err := topicForm(raw, s)
	if err != nil {
		bad("", "derive the topic form: %v", err)
		return nil, probs
	}
	if s.compiled, err = compile(file, raw); err != nil {
		bad("", "not a valid JSON Schema: %v", err)
		return nil, probs
	}
	if s.topic, err = compile("topic/"+file, topicRaw); err != nil {
		bad("", "topic form is not a valid JSON Schema: %v", err)
		return nil, probs
	}
	s.fast = compileFast(s, topicRaw)
	return s, nil
}

func compile(url string, raw []byte) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// topicForm derives the JSON Schema of the records on the topic from the
// source form: personal fields replaced by their protected columns.
func topicForm(raw []byte, s *Schema) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	delete(doc, "$id")
	props, _ := doc["properties"].(map[string]any)
	for _, c := range s.Columns {
		if c.PII == PIINone || c.PII == PIIScan {
			continue
		}
		delete(props, c.Name)
		for _, pc := range protectedColumns(c) {
			var def map[string]any
			switch pc.Role {
			case RoleKey:
				def = map[string]any{"type": []any{"string", "null"}, "pattern": KeyPattern}
			case RoleMasked:
				def = map[string]any{"type": []any{"string", "null"}, "maxLength": 64}
			case RoleBirthYear:
				def = map[string]any{"type": []any{"integer", "null"}, "minimum": 1880, "maximum": 2200}
			case RoleGender:
				def = map[string]any{"enum": []any{"M", "F", nil}}
			}
			def["description"] = pc.Description
			props[pc.Name] = def
		}
	}
	return json.Marshal(doc)
}

func columnType(p property) (Type, error) {
	var types []string
	switch t := p.Type.(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				types = append(types, s)
			}
		}
	case nil:
		if len(p.Enum) == 0 {
			return 0, fmt.Errorf(`needs a "type" or an "enum"`)
		}
		for _, e := range p.Enum {
			if e != nil {
				if _, ok := e.(string); !ok {
					return 0, fmt.Errorf("enum values must be strings (or null), got %v", e)
				}
			}
		}
		return Varchar, nil
	}
	if len(types) != 1 {
		return 0, fmt.Errorf(`"type" must be one type, optionally with "null"`)
	}
	switch types[0] {
	case "string":
		switch p.Format {
		case "date-time":
			return Timestamp, nil
		case "date":
			return Date, nil
		case "":
			return Varchar, nil
		}
		return 0, fmt.Errorf("format %q is not supported (date-time, date)", p.Format)
	case "integer":
		return BigInt, nil
	case "number":
		return Double, nil
	case "boolean":
		return Boolean, nil
	case "array":
		if p.Items != nil && p.Items.Type == "string" {
			return VarcharList, nil
		}
		return 0, fmt.Errorf(`arrays must have "items": {"type": "string"}`)
	}
	return 0, fmt.Errorf("type %q is not supported", types[0])
}

// orderedProperties decodes the properties object keeping the file order,
// which becomes the column order.
func orderedProperties(raw json.RawMessage) (map[string]property, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("must be an object")
	}
	props := map[string]property{}
	var order []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		name, _ := tok.(string)
		var p property
		if err := dec.Decode(&p); err != nil {
			return nil, nil, fmt.Errorf("property %q: %w", name, err)
		}
		if _, dup := props[name]; dup {
			return nil, nil, fmt.Errorf("property %q appears twice", name)
		}
		props[name] = p
		order = append(order, name)
	}
	return props, order, nil
}

func asSyntax(err error, target **json.SyntaxError) bool {
	se, ok := err.(*json.SyntaxError) //nolint:errorlint // json.Unmarshal returns it unwrapped
	if ok {
		*target = se
	}
	return ok
}

// lineOf returns the 1-based line of the first occurrence of needle, or 0.
func lineOf(raw []byte, needle string) int {
	if needle == "" {
		return 0
	}
	i := bytes.Index(raw, []byte(needle))
	if i < 0 {
		return 0
	}
	return 1 + bytes.Count(raw[:i], []byte("\n"))
}

func validIdent(s string) bool {
	if s == "" || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
