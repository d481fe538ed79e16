package mapping

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"

	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/schemas"
)

// Apply maps one decoded source record (numbers as json.Number, as
// schemas.Decode gives them) to the schema's source form. It does not
// change src. A refused record gets a *schemas.RecordError with reason
// ReasonMapping naming the first failing schema field; its message also
// counts the other failing fields.
func (m *Mapping) Apply(src map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(m.keep)+len(m.pathF)+len(m.exprF))
	for _, k := range m.keep {
		if v, ok := src[k]; ok {
			out[k] = v
		}
	}
	var first *convError
	var failed []string
	fail := func(f *field, e *convError) {
		if first == nil {
			first = e
		} else {
			failed = append(failed, f.name)
		}
	}
	for _, f := range m.pathF {
		v, present := lookup(src, f.path)
		if out2, set, err := f.value(v, present); err != nil {
			fail(f, err)
		} else if set {
			out[f.name] = out2
		}
	}
	if len(m.exprF) > 0 {
		env := exprEnv(src, out)
		for _, f := range m.exprF {
			v, err := expr.Run(f.prog, env)
			if err != nil {
				// The error may quote the operands: mask ID and phone
				// numbers in it like any value shown.
				msg, _ := pii.ScrubText(firstLine(err.Error()))
				fail(f, &convError{field: f, text: msg, plain: true})
				continue
			}
			if out2, set, err := f.value(v, true); err != nil {
				fail(f, err)
			} else if set {
				out[f.name] = out2
			}
		}
	}
	if first != nil {
		msg := first.msg(true)
		if len(failed) > 0 {
			msg += fmt.Sprintf(" (and %d more: %s)", len(failed), strings.Join(failed, ", "))
		}
		return nil, &schemas.RecordError{Reason: ReasonMapping, Field: first.field.name, Msg: msg}
	}
	return out, nil
}

// Evidence returns what a dead letter keeps of a refused source record:
// only what the mapping reads — the paths of its path fields and the kept
// fields, the top-level fields its expressions name — and none of what
// feeds a personal field. Whatever else the platform sends (a caller's
// name, an address) stays out. A replay maps the evidence as it would the
// record.
func (m *Mapping) Evidence(src map[string]any) map[string]any {
	out := map[string]any{}
	for _, f := range m.pathF {
		if !f.personal {
			copyPath(out, src, f.path)
		}
	}
	for _, k := range m.keep {
		if v, ok := src[k]; ok && !m.feedsPersonal(k) {
			out[k] = v
		}
	}
	for _, f := range m.exprF {
		for _, name := range f.names {
			if v, ok := src[name]; ok && !m.feedsPersonal(name) {
				out[name] = v
			}
		}
	}
	return out
}

// feedsPersonal reports whether the top-level source field name feeds a
// personal field.
func (m *Mapping) feedsPersonal(name string) bool {
	for _, p := range m.personal {
		if len(p) > 0 && p[0].key == name {
			return true
		}
	}
	return false
}

// copyPath copies what path points at in src into dst, building the
// objects along it; a path through an array copies the array whole.
func copyPath(dst, src map[string]any, path []step) {
	if len(path) == 0 || path[0].bracket {
		return
	}
	v, ok := src[path[0].key]
	if !ok {
		return
	}
	if len(path) == 1 {
		dst[path[0].key] = v
		return
	}
	sub, isObj := v.(map[string]any)
	if !isObj || path[1].bracket || path[1].index >= 0 && !hasKey(sub, path[1].key) {
		dst[path[0].key] = v
		return
	}
	d, _ := dst[path[0].key].(map[string]any)
	if d == nil {
		d = map[string]any{}
		dst[path[0].key] = d
	}
	copyPath(d, sub, path[1:])
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// StripPersonal removes from src the source fields that a path or keep
// feeds into a personal (x-pii) schema field, and reports whether it removed
// any: what is left may be kept in a dead letter. Values that only an expr
// reads are not known; the dead-letter scrubbing of ID- and phone-shaped
// text still applies to them.
func (m *Mapping) StripPersonal(src map[string]any) bool {
	removed := false
	for _, p := range m.personal {
		if remove(src, p) {
			removed = true
		}
	}
	return removed
}

// value runs one raw value through default, values and type. set is false
// when an optional field is left out.
func (f *field) value(v any, present bool) (any, bool, *convError) {
	if !present || v == nil || isBlank(v) {
		switch {
		case f.hasDef:
			return f.def, true, nil
		case f.optional:
			return nil, false, nil
		case f.prog != nil:
			return nil, false, &convError{field: f, text: "gave no value (null or blank); give a default or make the field optional", plain: true}
		case !present:
			return nil, false, &convError{field: f, text: "missing from the record", plain: true}
		}
		return nil, false, &convError{field: f, text: "is empty", plain: true}
	}
	if f.values != nil {
		label, ok := labelOf(v)
		if !ok {
			return nil, false, &convError{field: f, value: v, text: "is not a label: want text, a number or true/false"}
		}
		out, ok := f.values[label]
		if !ok {
			known := f.labels
			more := ""
			if len(known) > 8 {
				known, more = known[:8], ", …"
			}
			return nil, false, &convError{field: f, value: label, text: fmt.Sprintf("is not a known label (known: %s%s)", strings.Join(known, ", "), more)}
		}
		return out, true, nil
	}
	out, err := f.convert(v)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// convError is why a value did not convert; msg words it.
type convError struct {
	field *field
	value any    // echoed unless the field is personal
	text  string // what is wrong
	plain bool   // text is the whole message (no value)
}

// msg is the message, prefixed with the source path when withLabel.
func (e *convError) msg(withLabel bool) string {
	var b strings.Builder
	if withLabel {
		b.WriteString(e.field.label)
		b.WriteString(": ")
	}
	if !e.plain {
		if e.field.personal && withLabel {
			b.WriteString("the value (withheld: personal data) ")
		} else {
			b.WriteString(show(e.value))
			b.WriteString(" ")
		}
	}
	b.WriteString(e.text)
	return b.String()
}

// convert converts a non-blank value to the field's kind.
func (f *field) convert(v any) (any, *convError) {
	bad := func(text string) (any, *convError) { return nil, &convError{field: f, value: v, text: text} }
	switch f.kind {
	case kindString:
		switch x := v.(type) {
		case string:
			return strings.TrimSpace(x), nil
		case bool, map[string]any, []any:
			return bad("is not text")
		}
		if s, ok := numberText(v); ok {
			return s, nil
		}
		return bad("is not text")
	case kindInteger:
		n, ok := toInt(v)
		if !ok {
			return bad("is not a whole number")
		}
		return json.Number(strconv.FormatInt(n, 10)), nil
	case kindNumber:
		x, ok := toFloat(v)
		if !ok {
			return bad("is not a number")
		}
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), nil
	case kindBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case json.Number, string:
			s := strings.ToLower(halfWidth(strings.TrimSpace(fmt.Sprint(x))))
			switch s {
			case "true", "1":
				return true, nil
			case "false", "0":
				return false, nil
			}
		}
		return bad("is not true/false (map labels such as 是/否 with values)")
	case kindList:
		switch x := v.(type) {
		case []any:
			return x, nil
		case string:
			parts := listSep.Split(x, -1)
			out := make([]any, 0, len(parts))
			for _, p := range parts {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			return out, nil
		}
		return bad("is not a list or text")
	case kindTime:
		t, err := f.parseTime(v)
		if err != nil {
			return nil, err
		}
		if f.date {
			if !f.zoned {
				return t.Format(time.DateOnly), nil // the date where the time was written
			}
			return t.In(f.loc).Format(time.DateOnly), nil
		}
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	return bad("cannot be converted")
}

var listSep = regexp.MustCompile(`[、,，;；]`)

func (f *field) parseTime(v any) (time.Time, *convError) {
	var s string
	switch x := v.(type) {
	case time.Time: // from an expr (now(), date())
		return checkYear(f, v, x)
	case string:
		s = halfWidth(strings.TrimSpace(x))
	case json.Number:
		s = string(x)
	default:
		return time.Time{}, &convError{field: f, value: v, text: "is not a time"}
	}
	for _, l := range f.layouts {
		var t time.Time
		var err error
		switch l {
		case "unix", "unix_ms":
			t, err = epoch(s, l == "unix_ms")
		default:
			t, err = time.ParseInLocation(l, s, f.loc)
		}
		if err == nil {
			return checkYear(f, v, t)
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return checkYear(f, v, t)
	}
	names := append(append([]string{}, f.layouts...), "RFC 3339")
	text := "matches none of the layouts " + strings.Join(names, "; ")
	if len(f.layouts) == 0 {
		text = "is not an RFC 3339 time such as 2026-03-01T10:00:00+08:00 (give time layouts and a timezone for other forms)"
	}
	return time.Time{}, &convError{field: f, value: v, text: text}
}

// checkYear refuses times that RFC 3339 and TIMESTAMPTZ cannot write.
func checkYear(f *field, v any, t time.Time) (time.Time, *convError) {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, &convError{field: f, value: v, text: fmt.Sprintf("is in the year %d, outside 0001-9999", y)}
	}
	return t, nil
}

func epoch(s string, ms bool) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	const maxSec = 253402300799 // 9999-12-31T23:59:59Z
	if ms {
		if n/1000 > maxSec || n/1000 < -maxSec {
			return time.Time{}, fmt.Errorf("out of range")
		}
		return time.UnixMilli(n), nil
	}
	if n > maxSec || n < -maxSec {
		return time.Time{}, fmt.Errorf("out of range")
	}
	return time.Unix(n, 0), nil
}

var numeric = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// numberText returns the text of a numeric value, or false.
func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return string(x), true
	case string:
		s := halfWidth(strings.TrimSpace(x))
		return s, numeric.MatchString(s)
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return "", false
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	}
	return "", false
}

func toInt(v any) (int64, bool) {
	s, ok := numberText(v)
	if !ok {
		return 0, false
	}
	if n, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64); err == nil {
		return n, true
	}
	// 3.0 and 3e2 are whole numbers too; beyond 2^53 a float is not exact.
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || x != math.Trunc(x) || math.Abs(x) > 1<<53 {
		return 0, false
	}
	return int64(x), true
}

func toFloat(v any) (float64, bool) {
	s, ok := numberText(v)
	if !ok {
		return 0, false
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, false
	}
	return x, true
}

// number writes a Go number as a json.Number.
func number(v any) any {
	if s, ok := numberText(v); ok {
		return json.Number(s)
	}
	return v
}

// labelOf is the text a value is looked up by in a values table.
func labelOf(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	if s, ok := numberText(v); ok {
		return s, true
	}
	return "", false
}

func isBlank(v any) bool {
	s, ok := v.(string)
	return ok && strings.TrimSpace(s) == ""
}

// halfWidth reads full-width digits and number punctuation as ASCII.
func halfWidth(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= 0xFF01 && r <= 0xFF5E || r == 0x3000 }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == 0x3000:
			r = ' '
		case r >= 0xFF01 && r <= 0xFF5E:
			r -= 0xFEE0
		}
		b.WriteRune(r)
	}
	return b.String()
}

// show writes a value for a message: quoted text, at most 64 characters,
// with ID and phone numbers masked.
func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		// Mask first: a cut through a number would leave its digits
		// unrecognised.
		x, _ = pii.ScrubText(x)
		if utf8.RuneCountInString(x) > 64 {
			x = string([]rune(x)[:64]) + "…"
		}
		return strconv.Quote(x)
	case json.Number:
		s, _ := pii.ScrubText(string(x))
		return s
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	if s, ok := numberText(v); ok {
		s, _ = pii.ScrubText(s)
		return s
	}
	return fmt.Sprintf("a %T", v)
}

// exprEnv is what an expr sees: the record's top-level fields, src and
// out, with json.Number read as int or float64 so that sjrs > 3 works.
func exprEnv(src, out map[string]any) map[string]any {
	s := exprValue(src).(map[string]any)
	env := make(map[string]any, len(s)+2)
	for k, v := range s {
		env[k] = v
	}
	env["src"] = s
	env["out"] = exprValue(out)
	return env
}

func exprValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return int(n)
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return f
		}
		return string(x)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = exprValue(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = exprValue(e)
		}
		return a
	}
	return v
}

// MaskedEvidence is Evidence with mask applied to every value except those
// a path field copies into a schema field that is not personal, by a path
// of names only (no index): those are kept as the platform wrote them (a
// grid code is no ID number). The values of kept fields and of the names
// expressions read are masked, since what they hold is not known.
func (m *Mapping) MaskedEvidence(src map[string]any, mask func(any) any) map[string]any {
	plain := map[string]bool{}
	for _, f := range m.pathF {
		if f.personal {
			continue
		}
		keys := make([]string, 0, len(f.path))
		for _, s := range f.path {
			if s.bracket || s.index >= 0 {
				keys = nil
				break
			}
			keys = append(keys, s.key)
		}
		if keys != nil {
			plain[strings.Join(keys, "\x00")] = true
		}
	}
	return maskExcept(m.Evidence(src), "", plain, mask)
}

func maskExcept(obj map[string]any, prefix string, plain map[string]bool, mask func(any) any) map[string]any {
	for k, v := range obj {
		p := prefix + k
		switch sub, isObj := v.(map[string]any); {
		case plain[p]:
		case isObj:
			obj[k] = maskExcept(sub, p+"\x00", plain, mask)
		default:
			obj[k] = mask(v)
		}
	}
	return obj
}
