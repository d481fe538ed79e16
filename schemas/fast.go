package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// The fast path validates and converts a record in one pass over its bytes,
// without building a generic object. It knows the subset of JSON Schema the
// yiwang schemas use (type, enum, pattern, minLength, maxLength, minimum,
// maximum, exclusiveMinimum, exclusiveMaximum, format date-time and date,
// items of strings, maxItems, required, additionalProperties false) and it
// only ever says "valid" or "not sure": anything it does not fully
// understand, and every invalid record, goes to the full JSON Schema
// validator, which decides and explains. FuzzFastAgreesWithValidator checks
// that the fast path never accepts what the validator refuses.

// fastProp is one property's compiled constraints.
type fastProp struct {
	bit      uint64 // this property's bit in the seen set
	col      int    // index into TableColumns
	column   Column
	null     bool // null allowed
	str, num bool
	integer  bool
	boolean  bool
	array    bool
	enum     map[string]bool // string values allowed, if an enum is given
	minLen   int
	maxLen   int // -1: none
	pattern  *regexp.Regexp
	format   string
	min, max *float64
	exMin    *float64
	exMax    *float64
	itemPat  *regexp.Regexp
	itemMax  int // -1: none
	maxItems int // -1: none
}

type fastSchema struct {
	props    map[string]*fastProp
	required uint64 // bits of the required properties
	ncols    int
	keyCols  []int
	verCol   int
	evCol    int
	closed   bool // additionalProperties: false
}

type propConstraints struct {
	Type             any      `json:"type"`
	Enum             []any    `json:"enum"`
	Pattern          string   `json:"pattern"`
	MinLength        *int     `json:"minLength"`
	MaxLength        *int     `json:"maxLength"`
	Minimum          *float64 `json:"minimum"`
	Maximum          *float64 `json:"maximum"`
	ExclusiveMinimum *float64 `json:"exclusiveMinimum"`
	ExclusiveMaximum *float64 `json:"exclusiveMaximum"`
	Format           string   `json:"format"`
	MaxItems         *int     `json:"maxItems"`
	Items            *struct {
		Type      any    `json:"type"`
		Pattern   string `json:"pattern"`
		MaxLength *int   `json:"maxLength"`
	} `json:"items"`
}

var fastKeywords = map[string]bool{"type": true, "enum": true, "pattern": true, "minLength": true, "maxLength": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true, "format": true,
	"maxItems": true, "items": true, "description": true, "title": true, "x-pii": true, "x-check": true}

var fastTopKeywords = map[string]bool{"$schema": true, "$id": true, "title": true, "description": true, "type": true,
	"x-yiwang": true, "required": true, "additionalProperties": true, "properties": true}

// compileFast returns nil when the schema uses something the fast path does
// not know; then every record takes the full validator.
func compileFast(s *Schema, raw []byte) *fastSchema {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return nil
	}
	for k := range top {
		if !fastTopKeywords[k] {
			return nil
		}
	}
	if string(top["type"]) != `"object"` {
		return nil
	}
	fs := &fastSchema{props: map[string]*fastProp{}, verCol: -1, evCol: -1}
	if ap, ok := top["additionalProperties"]; ok {
		if string(ap) != "false" {
			return nil
		}
		fs.closed = true
	}
	var required []string
	_ = json.Unmarshal(top["required"], &required)
	var props map[string]json.RawMessage
	if json.Unmarshal(top["properties"], &props) != nil {
		return nil
	}
	cols := s.TableColumns()
	fs.ncols = len(cols)
	colIdx := map[string]int{}
	for i, c := range cols {
		colIdx[c.Name] = i
	}
	if len(cols) > 64 {
		return nil
	}
	for ci, c := range cols {
		var kw map[string]json.RawMessage
		if json.Unmarshal(props[c.Name], &kw) != nil {
			return nil
		}
		for k := range kw {
			if !fastKeywords[k] {
				return nil
			}
		}
		var pc propConstraints
		if json.Unmarshal(props[c.Name], &pc) != nil {
			return nil
		}
		fp := &fastProp{bit: 1 << ci, col: ci, column: c, maxLen: -1, itemMax: -1, maxItems: -1, format: pc.Format,
			min: pc.Minimum, max: pc.Maximum, exMin: pc.ExclusiveMinimum, exMax: pc.ExclusiveMaximum}
		types, ok := typeList(pc.Type)
		if !ok {
			return nil
		}
		for _, t := range types {
			switch t {
			case "null":
				fp.null = true
			case "string":
				fp.str = true
			case "number":
				fp.num = true
			case "integer":
				fp.integer = true
			case "boolean":
				fp.boolean = true
			case "array":
				fp.array = true
			default:
				return nil
			}
		}
		if pc.Enum != nil {
			fp.enum = map[string]bool{}
			if pc.Type == nil {
				fp.str = true
			}
			for _, e := range pc.Enum {
				switch v := e.(type) {
				case nil:
					fp.null = true
				case string:
					fp.enum[v] = true
				default:
					return nil
				}
			}
		}
		if pc.MinLength != nil {
			fp.minLen = *pc.MinLength
		}
		if pc.MaxLength != nil {
			fp.maxLen = *pc.MaxLength
		}
		if pc.MaxItems != nil {
			fp.maxItems = *pc.MaxItems
		}
		var err error
		if pc.Pattern != "" {
			if fp.pattern, err = regexp.Compile(pc.Pattern); err != nil {
				return nil
			}
		}
		if pc.Items != nil {
			if pc.Items.Type != "string" {
				return nil
			}
			if pc.Items.Pattern != "" {
				if fp.itemPat, err = regexp.Compile(pc.Items.Pattern); err != nil {
					return nil
				}
			}
			if pc.Items.MaxLength != nil {
				fp.itemMax = *pc.Items.MaxLength
			}
		} else if fp.array {
			return nil
		}
		switch pc.Format {
		case "", "date-time", "date":
		default:
			return nil
		}
		fs.props[c.Name] = fp
	}
	if len(props) != len(cols) {
		return nil
	}
	for _, r := range required {
		fp, ok := fs.props[r]
		if !ok {
			return nil
		}
		fs.required |= fp.bit
	}
	for _, k := range s.Key {
		fs.keyCols = append(fs.keyCols, colIdx[k])
	}
	fs.verCol = colIdx[s.VersionField]
	fs.evCol = colIdx[s.EventTime]
	return fs
}

func typeList(t any) ([]string, bool) {
	switch v := t.(type) {
	case nil:
		return nil, true
	case string:
		return []string{v}, true
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// Loaded is a record that passed validation, ready for the table.
type Loaded struct {
	Row       []any // values of TableColumns, nil for NULL
	Key       string
	Version   int64 // microseconds for timestamps
	EventTime time.Time
}

// Load validates one record of the topic form and converts it for the
// table. It takes the fast path when it can and the full validator
// otherwise; the error is a *RecordError. A record carrying a personal field
// in clear is refused (someone wrote around a connector).
// Strings in the row may share memory with raw: the caller must not modify
// raw afterwards.
func (s *Schema) Load(raw []byte, areas Areas, now time.Time) (Loaded, error) {
	if s.fast != nil {
		if l, ok := s.fast.load(raw, areas, now); ok {
			return l, nil
		}
	}
	obj, err := Decode(raw)
	if err != nil {
		return Loaded{}, err
	}
	if err := s.ValidateTopic(obj, areas, now); err != nil {
		return Loaded{}, err
	}
	var l Loaded
	if l.Row, err = s.Row(obj); err != nil {
		return Loaded{}, err
	}
	l.Key, l.Version, l.EventTime = s.KeyOf(obj), s.VersionOf(obj), s.EventTimeOf(obj)
	return l, nil
}

// load is the fast path; ok false means "ask the full validator".
func (fs *fastSchema) load(raw []byte, areas Areas, now time.Time) (Loaded, bool) {
	p := parser{b: raw}
	row := make([]any, fs.ncols)
	var seen uint64
	var l Loaded
	p.ws()
	if !p.eat('{') {
		return l, false
	}
	p.ws()
	if p.peek() == '}' {
		p.i++
	} else {
		for {
			p.ws()
			key, ok := p.plainString()
			if !ok {
				return l, false
			}
			fp := fs.props[string(key)] // no allocation for a map index
			if fp != nil {
				if seen&fp.bit != 0 {
					return l, false // a repeated key
				}
				seen |= fp.bit
			}
			p.ws()
			if !p.eat(':') {
				return l, false
			}
			p.ws()
			if fp == nil {
				if fs.closed {
					return l, false
				}
				if !p.skipValue() {
					return l, false
				}
			} else {
				v, ok := fs.value(&p, fp, areas, now)
				if !ok {
					return l, false
				}
				row[fp.col] = v
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat('}') {
				break
			}
			return l, false
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return l, false
	}
	if seen&fs.required != fs.required {
		return l, false
	}
	l.Row = row
	if len(fs.keyCols) == 1 {
		k, ok := row[fs.keyCols[0]].(string)
		if !ok {
			k = fmt.Sprint(row[fs.keyCols[0]])
		}
		l.Key = k
	} else {
		var b []byte
		for i, c := range fs.keyCols {
			if i > 0 {
				b = append(b, 0x1f)
			}
			b = fmt.Append(b, row[c])
		}
		l.Key = string(b)
	}
	switch v := row[fs.verCol].(type) {
	case time.Time:
		l.Version = v.UnixMicro()
	case int64:
		l.Version = v
	}
	l.EventTime, _ = row[fs.evCol].(time.Time)
	return l, true
}

// value reads one property value and checks it; ok false means not sure.
func (fs *fastSchema) value(p *parser, fp *fastProp, areas Areas, now time.Time) (any, bool) {
	switch c := p.peek(); {
	case c == 'n':
		return nil, p.lit("null") && fp.null
	case c == 't' || c == 'f':
		if !fp.boolean || fp.enum != nil {
			return nil, false
		}
		if p.lit("true") {
			return true, true
		}
		return false, p.lit("false")
	case c == '"':
		if !fp.str {
			return nil, false
		}
		s, ok := p.string()
		if !ok {
			return nil, false
		}
		return fp.checkString(s, areas, now)
	case c == '[':
		if !fp.array {
			return nil, false
		}
		return fp.readArray(p)
	case c == '-' || c >= '0' && c <= '9':
		return fp.readNumber(p)
	}
	return nil, false
}

func (fp *fastProp) checkString(s string, areas Areas, now time.Time) (any, bool) {
	if fp.enum != nil && !fp.enum[s] {
		return nil, false
	}
	if fp.minLen > 0 || fp.maxLen >= 0 {
		n := utf8.RuneCountInString(s)
		if n < fp.minLen || fp.maxLen >= 0 && n > fp.maxLen {
			return nil, false
		}
	}
	if fp.pattern != nil && !fp.pattern.MatchString(s) {
		return nil, false
	}
	if fp.column.Check != CheckNone && check(fp.column, s, areas, now) != nil {
		return nil, false
	}
	switch fp.format {
	case "date-time":
		if !strictDateTime(s) {
			return nil, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, false
		}
		if fp.column.Type == Timestamp {
			return t.UTC(), true
		}
	case "date":
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, false
		}
		if fp.column.Type == Date {
			return t, true
		}
	}
	if fp.column.Type != Varchar {
		return nil, false
	}
	return s, true
}

func (fp *fastProp) readArray(p *parser) (any, bool) {
	p.i++ // [
	out := []any{}
	p.ws()
	if p.eat(']') {
		return out, true
	}
	for {
		p.ws()
		if p.peek() != '"' {
			return nil, false
		}
		s, ok := p.string()
		if !ok {
			return nil, false
		}
		if fp.itemMax >= 0 && utf8.RuneCountInString(s) > fp.itemMax {
			return nil, false
		}
		if fp.itemPat != nil && !fp.itemPat.MatchString(s) {
			return nil, false
		}
		out = append(out, s)
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			break
		}
		return nil, false
	}
	if fp.maxItems >= 0 && len(out) > fp.maxItems {
		return nil, false
	}
	return out, true
}

func (fp *fastProp) readNumber(p *parser) (any, bool) {
	lit, isInt, ok := p.number()
	if !ok || !(fp.num || fp.integer) || fp.enum != nil {
		return nil, false
	}
	digits := 0
	for i := 0; i < len(lit); i++ {
		if lit[i] >= '0' && lit[i] <= '9' {
			digits++
		}
	}
	if digits > 15 { // beyond exact float64 comparison with the bounds
		return nil, false
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false
	}
	if fp.min != nil && f < *fp.min || fp.max != nil && f > *fp.max ||
		fp.exMin != nil && f <= *fp.exMin || fp.exMax != nil && f >= *fp.exMax {
		return nil, false
	}
	switch fp.column.Type {
	case BigInt:
		if !isInt {
			return nil, false
		}
		n, err := strconv.ParseInt(lit, 10, 64)
		return n, err == nil
	case Double:
		if !fp.num {
			return nil, false
		}
		return f, true
	}
	return nil, false
}

// strictDateTime accepts YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM) with
// in-range fields: a subset of what the date-time format allows.
func strictDateTime(s string) bool {
	if len(s) < 20 {
		return false
	}
	d := func(i int) bool { return s[i] >= '0' && s[i] <= '9' }
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if !d(i) {
			return false
		}
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	if seg(s, 11, 13) > 23 || seg(s, 14, 16) > 59 || seg(s, 17, 19) > 59 {
		return false
	}
	rest := s[19:]
	if rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 1 || j > 10 {
			return false
		}
		rest = rest[j:]
	}
	if rest == "Z" {
		return true
	}
	if len(rest) != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' {
		return false
	}
	for _, i := range []int{1, 2, 4, 5} {
		if rest[i] < '0' || rest[i] > '9' {
			return false
		}
	}
	return seg(rest, 1, 3) <= 23 && seg(rest, 4, 6) <= 59
}

// parser is a minimal JSON scanner for flat records.
type parser struct {
	b []byte
	i int
}

func (p *parser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) lit(s string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

// plainString reads a string without escapes (object keys). A key with
// escapes or bytes outside ASCII names no property of ours; the caller then
// treats it as unknown, and the full validator decides.
func (p *parser) plainString() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// string reads a string value; escapes are decoded by encoding/json.
func (p *parser) string() (string, bool) {
	start := p.i
	p.i++ // "
	escaped := false
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !escaped {
				b := p.b[start+1 : p.i-1]
				if len(b) == 0 {
					return "", true
				}
				// The string shares the record's bytes, which the caller
				// never modifies (Load's contract): no copy.
				return unsafe.String(&b[0], len(b)), utf8.Valid(b)
			}
			var s string
			if json.Unmarshal(p.b[start:p.i], &s) != nil {
				return "", false
			}
			return s, utf8.ValidString(s) && !bytes.ContainsRune([]byte(s), utf8.RuneError)
		case c == '\\':
			escaped = true
			p.i += 2
			continue
		case c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

// number reads a JSON number literal.
func (p *parser) number() (lit string, isInt, ok bool) {
	start := p.i
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.peek() >= '1' && p.peek() <= '9':
		for p.peek() >= '0' && p.peek() <= '9' {
			p.i++
		}
	default:
		return "", false, false
	}
	isInt = true
	if p.eat('.') {
		isInt = false
		n := 0
		for p.peek() >= '0' && p.peek() <= '9' {
			p.i++
			n++
		}
		if n == 0 {
			return "", false, false
		}
	}
	if p.peek() == 'e' || p.peek() == 'E' {
		return "", false, false // rare; the full validator handles it
	}
	return string(p.b[start:p.i]), isInt, true
}

// skipValue skips a scalar value of an unknown property.
func (p *parser) skipValue() bool {
	switch c := p.peek(); {
	case c == '"':
		_, ok := p.string()
		return ok
	case c == 'n':
		return p.lit("null")
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == '-' || c >= '0' && c <= '9':
		_, _, ok := p.number()
		return ok
	}
	return false
}
