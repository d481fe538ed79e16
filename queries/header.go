package queries

import (
	"bytes"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/diag"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"
)

// Kind is what a query file computes.
type Kind string

// The kinds of query. Only indicators exist so far.
const (
	KindIndicator Kind = "indicator"
	KindRule      Kind = "rule"
)

// Mode is an area's operating mode (平急转换): it chooses the schedule and
// the thresholds that apply.
type Mode string

// The modes.
const (
	Normal    Mode = "normal"
	Emergency Mode = "emergency"
)

// Level is a level an indicator is published at.
type Level string

// The levels. Grid, community, street and county are levels of the areas
// table (the statistical code tree). District is the whole deployment, one
// cell. GovUnit is every node of the responsibility hierarchy (gov_units:
// 新区, 开发区, 乡街, 社区), which is not the code tree.
const (
	LevelGrid      Level = "grid"
	LevelCommunity Level = "community"
	LevelStreet    Level = "street"
	LevelCounty    Level = "county"
	LevelDistrict  Level = "district"
	LevelGovUnit   Level = "gov_unit"
)

// Levels are all levels, finest first.
var levels = []Level{LevelGrid, LevelCommunity, LevelStreet, LevelCounty, LevelDistrict, LevelGovUnit}

// DistrictCode is the area_code of the one district-level cell: the whole
// deployment, every row of a query summed.
const DistrictCode = "district"

// Unit says how the runner turns a cell's numerator and denominator into its
// value.
type Unit string

// The units.
const (
	// UnitPercent is 100 × numerator / denominator.
	UnitPercent Unit = "percent"
	// UnitCount is the numerator; the denominator is context (e.g. the open
	// events of which the numerator are overdue).
	UnitCount Unit = "count"
	// UnitHours is numerator / denominator: total hours over items, a mean.
	UnitHours Unit = "hours"
	// UnitPer10k is 10000 × numerator / denominator, e.g. incidents per
	// 10,000 residents.
	UnitPer10k Unit = "per_10k"
)

// Direction says which way an indicator improves.
type Direction string

// The directions.
const (
	HigherIsBetter Direction = "higher_is_better"
	LowerIsBetter  Direction = "lower_is_better"
)

// Text is a text in Chinese and English.
type Text struct {
	Zh string
	En string
}

// Schedule holds a query's cron schedule per mode: five fields (minute hour
// day-of-month month day-of-week) in Asia/Shanghai.
type Schedule struct {
	// Normal is the schedule in normal mode; empty for an emergency-only
	// query.
	Normal string
	// Emergency is the schedule in emergency mode; empty means the normal
	// schedule applies in emergency mode too.
	Emergency string
}

// For returns the cron schedule of mode, or "" if the query does not run in
// that mode.
func (s Schedule) For(m Mode) string {
	if m == Emergency && s.Emergency != "" {
		return s.Emergency
	}
	return s.Normal
}

// Threshold is a pair of limits on an indicator's value. For
// higher_is_better, a value below Warn warns and below Alert alerts (Alert ≤
// Warn); for lower_is_better, above (Alert ≥ Warn).
type Threshold struct {
	Warn  float64
	Alert float64
}

// Thresholds are the limits per mode; nil where none apply.
type Thresholds struct {
	Normal    *Threshold
	Emergency *Threshold
}

// For returns the thresholds of mode; emergency falls back to normal.
func (t Thresholds) For(m Mode) *Threshold {
	if m == Emergency && t.Emergency != nil {
		return t.Emergency
	}
	return t.Normal
}

// Definition says what the indicator measures, in words, and where the
// formula comes from.
type Definition struct {
	Zh     string
	En     string
	Source string
}

// DefaultMinDenominator is the smallest denominator a published cell may
// have when a header does not say: smaller cells are suppressed (DOMAIN.md
// §8: no published indicator cell with a denominator under 5).
const DefaultMinDenominator = 5

// Header is the YAML header of a query file.
type Header struct {
	Name       string
	Title      Text
	Kind       Kind
	Schedule   Schedule
	Grain      []Level
	Period     Period
	Unit       Unit
	Direction  Direction
	Thresholds Thresholds
	// MinDenominator is the smallest denominator of a published cell
	// (DefaultMinDenominator when not given; 0 publishes every cell).
	MinDenominator int
	// LookbackMonths is how far before a period the query reads (a
	// comparison with the same month last year reads 12): a period whose
	// lookback starts before the input tables' data is noted as needing
	// more history (indicator_notes), which is why its cells are empty.
	LookbackMonths int
	Definition     Definition
	// EmergencyOnly queries run only for areas in emergency mode.
	EmergencyOnly bool
	// Inputs are the tables the query reads, record and reference tables.
	Inputs []string

	// A rule's own fields (kind: rule).

	// Severity is the severity of the anomalies a rule flags (warning or
	// critical).
	Severity string
	// Records is the table the record ids a rule returns are rows of.
	Records string
	// Params are a rule's named parameters per mode, bound as $name;
	// emergency falls back to normal, name by name.
	Params map[Mode]map[string]float64

	// Detect are an indicator's detectors: what judges its series, at
	// which levels, with which parameters per mode.
	Detect []Detector
}

// Detector is one detector of an indicator (detect: in its header).
type Detector struct {
	// Rule is the detector: poisson or robust (counts), funnel or drop
	// (rates), rising (a backlog).
	Rule string
	// Levels are the levels it judges (areas of the code tree).
	Levels []Level
	// Severity of what it flags (warning by default).
	Severity string
	// Params per mode, as Params: z, window, min_count, min_change,
	// min_history, min_den, points, periods, days.
	Params map[Mode]map[string]float64
}

// DetectorRules are the detectors an indicator may name, and
// detectorParams the parameters they take.
var (
	DetectorRules  = []string{"poisson", "robust", "funnel", "drop", "rising"}
	detectorParams = []string{"z", "window", "min_count", "min_change", "min_history", "min_den", "points", "periods", "days"}
)

// AnomalyRule is the anomaly rule name of a detector of indicator name:
// "<indicator>.<detector>".
func AnomalyRule(indicator, detector string) string { return indicator + "." + detector }

// ParamsFor returns the values of a rule's parameters in mode.
func (h *Header) ParamsFor(m Mode) map[string]float64 { return modeParams(h.Params, m) }

// ParamsFor returns the values of a detector's parameters in mode.
func (d Detector) ParamsFor(m Mode) map[string]float64 { return modeParams(d.Params, m) }

func modeParams(ps map[Mode]map[string]float64, m Mode) map[string]float64 {
	out := map[string]float64{}
	for k, v := range ps[Normal] {
		out[k] = v
	}
	if m == Emergency {
		for k, v := range ps[Emergency] {
			out[k] = v
		}
	}
	return out
}

// Publishes reports whether the indicator is published at level l.
func (h *Header) Publishes(l Level) bool { return slices.Contains(h.Grain, l) }

// Query is one parsed query file: its header and its SQL.
type Query struct {
	Header
	// File is the file's path, as messages quote it.
	File string
	// SQL is the text after the header, one statement.
	SQL string
	// SQLLine is the file line SQL starts on.
	SQLLine int

	text   sqlText
	inputs []input         // resolved by the catalog
	at     map[string]*pos // where header fields are, by path
}

// input is a table a query reads, with the column freshness is measured on
// (empty for reference tables).
type input struct {
	table, eventTime string
}

// params are the named parameters the runner binds.
var params = []string{"period_start", "period_end", "as_of"}

var (
	nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	// cronParser takes the standard five fields and nothing else: no
	// seconds, no @descriptors, no TZ= prefix (business time is
	// Asia/Shanghai, always).
	cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
)

// Parse reads a query file: a block comment whose body is the YAML header,
// then one SQL statement. file is the path messages quote; its base name
// without .sql must equal the header's name. Every problem is reported, as
// Problems, each with its line and column in the file.
//
// The header starts on the first line with "/*" alone and ends at the first
// line that is "*/" alone; its YAML is decoded strictly (unknown or
// repeated keys, wrong types and missing fields are errors).
func Parse(file string, raw []byte) (*Query, error) {
	q, probs := parse(file, raw)
	if err := orNil(probs); err != nil {
		return nil, err
	}
	return q, nil
}

func parse(file string, raw []byte) (*Query, Problems) {
	d := &decoder{file: file}
	switch {
	case bytes.HasPrefix(raw, []byte("\xef\xbb\xbf")):
		return nil, Problems{{File: file, Line: 1, Col: 1, Msg: "file starts with a byte-order mark; save it as UTF-8 without BOM"}}
	case !utf8.Valid(raw):
		return nil, Problems{{File: file, Line: firstInvalidLine(raw), Msg: "not valid UTF-8; save the file as UTF-8"}}
	case bytes.IndexByte(raw, 0) >= 0:
		return nil, Problems{{File: file, Line: 1 + bytes.Count(raw[:bytes.IndexByte(raw, 0)], []byte("\n")), Msg: "contains a NUL byte; remove it"}}
	}
	yamlText, body, bodyLine, probs := splitHeader(file, string(raw))
	if len(probs) > 0 {
		return nil, probs
	}
	q := &Query{File: file, SQL: body, SQLLine: bodyLine, at: map[string]*pos{}}
	root, probs := diag.ParseYAML(file, yamlText, 1)
	if len(probs) > 0 {
		return nil, probs
	}
	if root == nil {
		return nil, Problems{{File: file, Line: 1, Msg: "header is empty; write name, title, kind, schedule, grain, period, unit, direction, inputs and definition"}}
	}
	q.decodeHeader(d, root)
	base := strings.TrimSuffix(path.Base(file), ".sql")
	if n := q.at["name"]; n != nil && q.Name != "" && q.Name != base {
		d.probs = append(d.probs, Problem{File: file, Line: n.line, Col: n.col, Msg: fmt.Sprintf("name: %q differs from the file name; name the file %s.sql or the query %s", q.Name, q.Name, base)})
	}
	q.checkSQL(d)
	return q, d.probs
}

func firstInvalidLine(raw []byte) int {
	line := 1
	for len(raw) > 0 {
		r, size := utf8.DecodeRune(raw)
		if r == utf8.RuneError && size <= 1 {
			return line
		}
		if r == '\n' {
			line++
		}
		raw = raw[size:]
	}
	return line
}

// splitHeader cuts the file into the YAML of its header and its SQL. The
// YAML keeps the file's line numbers: its first line (the "/*") is blank.
func splitHeader(file, s string) (yamlText, body string, bodyLine int, probs Problems) {
	lines := strings.SplitAfter(s, "\n")
	if strings.TrimSpace(lines[0]) != "/*" {
		return "", "", 0, Problems{{File: file, Line: 1, Col: 1, Msg: `a query file starts with its header: a line "/*", the YAML header, a line "*/", then the SQL`}}
	}
	for i := 1; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "*/" {
			yamlText = "\n" + strings.Join(lines[1:i], "")
			body = strings.Join(lines[i+1:], "")
			return yamlText, body, i + 2, nil
		}
		if j := strings.Index(lines[i], "*/"); j >= 0 {
			return "", "", 0, Problems{{File: file, Line: i + 1, Col: utf8.RuneCountInString(lines[i][:j]) + 1, Msg: `"*/" ends the header and must stand alone on its line; in a value it would end the SQL comment: write a cron step as 0-59/5 rather than */5, or escape the slash as \x2F in a double-quoted string`}}
		}
		if j := strings.Index(lines[i], "/*"); j >= 0 {
			return "", "", 0, Problems{{File: file, Line: i + 1, Col: utf8.RuneCountInString(lines[i][:j]) + 1, Msg: `"/*" inside the header would open a nested SQL comment; remove it`}}
		}
	}
	return "", "", 0, Problems{{File: file, Line: 1, Col: 1, Msg: `the header is never closed; end it with a line "*/"`}}
}

var headerFields = []string{"name", "title", "kind", "schedule", "grain", "period", "unit", "direction",
	"thresholds", "min_denominator", "lookback_months", "definition", "emergency_only", "inputs",
	"severity", "records", "params", "detect"}

// indicatorOnly and ruleOnly are the header fields of one kind of query.
var (
	indicatorOnly = []string{"grain", "unit", "direction", "thresholds", "min_denominator", "lookback_months", "detect"}
	ruleOnly      = []string{"severity", "records", "params"}
)

func (q *Query) mark(path string, n *yaml.Node) {
	q.at[path] = &pos{n.Line, n.Column}
}

func (q *Query) decodeHeader(d *decoder, root *yaml.Node) {
	m := d.mapping(root, "", headerFields...)
	if m == nil {
		return
	}
	for k, v := range m {
		q.mark(k, v)
	}
	if n, ok := m["kind"]; ok {
		if s, ok := d.str(n, "kind"); ok {
			switch Kind(s) {
			case KindIndicator, KindRule:
				q.Kind = Kind(s)
			default:
				d.bad(n, "kind", "%q is unknown; use indicator or rule", s)
			}
		}
	}
	switch q.Kind {
	case KindRule:
		d.require(root, m, "", "name", "title", "kind", "schedule", "period", "definition", "inputs", "severity", "records")
		for _, k := range indicatorOnly {
			if n, ok := m[k]; ok {
				d.bad(n, k, "belongs to indicators; a rule flags subjects, it publishes no cells: remove it")
				delete(m, k)
			}
		}
		q.decodeRule(d, m)
	default: // an indicator, or no kind (which require reports)
		d.require(root, m, "", "name", "title", "kind", "schedule", "grain", "period", "unit", "direction", "definition", "inputs")
		for _, k := range ruleOnly {
			if n, ok := m[k]; ok {
				d.bad(n, k, "belongs to rules (kind: rule); remove it")
			}
		}
	}
	if n, ok := m["name"]; ok {
		if s, ok := d.str(n, "name"); ok {
			if nameRE.MatchString(s) {
				q.Name = s
			} else {
				d.bad(n, "name", "%q is not a query name; use lower-case letters, digits and _ starting with a letter (at most 63)", s)
			}
		}
	}
	if n, ok := m["title"]; ok {
		q.Title = d.decodeText(n, "title")
	}
	if n, ok := m["period"]; ok {
		if s, ok := d.str(n, "period"); ok {
			if slices.Contains(periods, Period(s)) {
				q.Period = Period(s)
			} else {
				d.bad(n, "period", "%q is unknown; use one of %s", s, joinAny(periods))
			}
		}
	}
	if n, ok := m["unit"]; ok {
		units := []Unit{UnitPercent, UnitCount, UnitHours, UnitPer10k}
		if s, ok := d.str(n, "unit"); ok {
			if slices.Contains(units, Unit(s)) {
				q.Unit = Unit(s)
			} else {
				d.bad(n, "unit", "%q is unknown; use one of %s", s, joinAny(units))
			}
		}
	}
	if n, ok := m["direction"]; ok {
		if s, ok := d.str(n, "direction"); ok {
			if Direction(s) == HigherIsBetter || Direction(s) == LowerIsBetter {
				q.Direction = Direction(s)
			} else {
				d.bad(n, "direction", "%q is unknown; use higher_is_better or lower_is_better", s)
			}
		}
	}
	if n, ok := m["emergency_only"]; ok {
		q.EmergencyOnly, _ = d.boolean(n, "emergency_only")
	}
	if q.Kind != KindRule {
		q.MinDenominator = DefaultMinDenominator
	}
	if n, ok := m["min_denominator"]; ok {
		if v, ok := d.integer(n, "min_denominator"); ok {
			if v < 0 {
				d.bad(n, "min_denominator", "must be 0 or more, got %d", v)
			} else {
				q.MinDenominator = v
			}
		}
	}
	if n, ok := m["lookback_months"]; ok {
		if v, ok := d.integer(n, "lookback_months"); ok {
			if v < 1 || v > 60 {
				d.bad(n, "lookback_months", "must be 1 to 60 (months before the period the query reads), got %d", v)
			} else {
				q.LookbackMonths = v
			}
		}
	}
	if n, ok := m["grain"]; ok {
		q.decodeGrain(d, n)
	}
	if n, ok := m["schedule"]; ok {
		q.decodeSchedule(d, n)
	}
	if n, ok := m["thresholds"]; ok {
		q.decodeThresholds(d, n)
	}
	if n, ok := m["definition"]; ok {
		dm := d.mapping(n, "definition", "zh", "en", "source")
		if dm != nil {
			d.require(n, dm, "definition", "zh", "en", "source")
			for k, v := range dm {
				s, _ := d.text(v, "definition."+k)
				switch k {
				case "zh":
					q.Definition.Zh = s
				case "en":
					q.Definition.En = s
				case "source":
					q.Definition.Source = s
				}
			}
		}
	}
	if n, ok := m["detect"]; ok && q.Kind == KindIndicator {
		q.decodeDetect(d, n)
	}
	if n, ok := m["inputs"]; ok {
		items, ok := d.list(n, "inputs")
		if ok && len(items) == 0 {
			d.bad(n, "inputs", "is empty; list every table the query reads")
		}
		seen := map[string]bool{}
		for i, it := range items {
			p := fmt.Sprintf("inputs[%d]", i)
			s, ok := d.str(it, p)
			if !ok {
				continue
			}
			if !nameRE.MatchString(s) {
				d.bad(it, p, "%q is not a table name", s)
				continue
			}
			if seen[s] {
				d.bad(it, p, "%s is listed twice; keep one", s)
				continue
			}
			seen[s] = true
			q.mark(p, it)
			q.Inputs = append(q.Inputs, s)
		}
	}
}

// decodeRule decodes a rule's own fields: severity, records and params.
func (q *Query) decodeRule(d *decoder, m map[string]*yaml.Node) {
	if n, ok := m["severity"]; ok {
		if s, ok := d.str(n, "severity"); ok {
			if s == "warning" || s == "critical" {
				q.Severity = s
			} else {
				d.bad(n, "severity", "%q is unknown; use warning or critical", s)
			}
		}
	}
	if n, ok := m["records"]; ok {
		if s, ok := d.str(n, "records"); ok {
			q.Records = s // checked against the inputs by the catalog
		}
	}
	if n, ok := m["params"]; ok {
		q.Params = decodeModeParams(d, n, "params", nil)
	}
}

// decodeDetect decodes an indicator's detectors; the grain is decoded
// already.
func (q *Query) decodeDetect(d *decoder, n *yaml.Node) {
	items, ok := d.list(n, "detect")
	if !ok {
		return
	}
	seen := map[string]bool{}
	for i, it := range items {
		p := fmt.Sprintf("detect[%d]", i)
		m := d.mapping(it, p, "rule", "levels", "severity", "params")
		if m == nil {
			continue
		}
		d.require(it, m, p, "rule")
		det := Detector{Severity: "warning"}
		if v, ok := m["rule"]; ok {
			if s, ok := d.str(v, p+".rule"); ok {
				switch {
				case !slices.Contains(DetectorRules, s):
					d.bad(v, p+".rule", "%q is not a detector; use %s", s, strings.Join(DetectorRules, ", "))
				case seen[s]:
					d.bad(v, p+".rule", "%s is listed twice; keep one", s)
				default:
					det.Rule = s
					seen[s] = true
				}
			}
		}
		if v, ok := m["severity"]; ok {
			if s, ok := d.str(v, p+".severity"); ok {
				if s == "warning" || s == "critical" {
					det.Severity = s
				} else {
					d.bad(v, p+".severity", "%q is unknown; use warning or critical", s)
				}
			}
		}
		if v, ok := m["levels"]; ok {
			levels, _ := d.list(v, p+".levels")
			for j, lv := range levels {
				s, ok := d.str(lv, fmt.Sprintf("%s.levels[%d]", p, j))
				switch {
				case !ok:
				case !q.Publishes(Level(s)) || Level(s) == LevelGovUnit || Level(s) == LevelDistrict:
					d.bad(lv, fmt.Sprintf("%s.levels[%d]", p, j), "%q is not an area level of the grain; use grid, community, street or county from %s", s, joinAny(q.Grain))
				default:
					det.Levels = append(det.Levels, Level(s))
				}
			}
		} else {
			for _, l := range q.Grain {
				if l != LevelGovUnit && l != LevelDistrict {
					det.Levels = append(det.Levels, l)
				}
			}
		}
		if v, ok := m["params"]; ok {
			det.Params = decodeModeParams(d, v, p+".params", detectorParams)
		}
		q.Detect = append(q.Detect, det)
	}
}

// decodeModeParams decodes {normal: {name: number}, emergency: {...}}:
// every name in known (any when known is nil), emergency naming only
// names normal gives.
func decodeModeParams(d *decoder, n *yaml.Node, path string, known []string) map[Mode]map[string]float64 {
	pm := d.mapping(n, path, string(Normal), string(Emergency))
	if pm == nil {
		return nil
	}
	out := map[Mode]map[string]float64{}
	for _, mode := range []Mode{Normal, Emergency} {
		v, ok := pm[string(mode)]
		if !ok {
			continue
		}
		p := path + "." + string(mode)
		vm := d.mapping(v, p, known...)
		if vm == nil {
			continue
		}
		out[mode] = map[string]float64{}
		for _, name := range slices.Sorted(maps.Keys(vm)) {
			vn := vm[name]
			switch {
			case known == nil && !nameRE.MatchString(name):
				d.bad(vn, p+"."+name, "%q is not a parameter name; use lower-case letters, digits and _ starting with a letter", name)
				continue
			case slices.Contains(params, name):
				d.bad(vn, p+"."+name, "%s is bound by the runner; choose another name", name)
				continue
			case mode == Emergency && !hasKey(pm[string(Normal)], name):
				d.bad(vn, p+"."+name, "has no normal value; give every parameter under %s.normal, and here only what emergency mode changes", path)
				continue
			}
			if f, ok := d.number(vn, p+"."+name); ok {
				out[mode][name] = f
			}
		}
	}
	if _, ok := pm[string(Normal)]; !ok {
		d.bad(n, path+".normal", "missing; give every parameter's value in normal mode")
	}
	return out
}

// hasKey reports whether the mapping node n has the key k.
func hasKey(n *yaml.Node, k string) bool {
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == k {
			return true
		}
	}
	return false
}

func (d *decoder) decodeText(n *yaml.Node, path string) Text {
	var t Text
	m := d.mapping(n, path, "zh", "en")
	if m == nil {
		return t
	}
	d.require(n, m, path, "zh", "en")
	if v, ok := m["zh"]; ok {
		t.Zh, _ = d.text(v, path+".zh")
	}
	if v, ok := m["en"]; ok {
		t.En, _ = d.text(v, path+".en")
	}
	return t
}

func (q *Query) decodeGrain(d *decoder, n *yaml.Node) {
	items, ok := d.list(n, "grain")
	if !ok {
		return
	}
	if len(items) == 0 {
		d.bad(n, "grain", "is empty; list the levels to publish, e.g. [grid, community, street, county, district]")
	}
	for i, it := range items {
		p := fmt.Sprintf("grain[%d]", i)
		s, ok := d.str(it, p)
		if !ok {
			continue
		}
		l := Level(s)
		switch {
		case !slices.Contains(levels, l):
			d.bad(it, p, "%q is not a level; use %s", s, joinAny(levels))
		case slices.Contains(q.Grain, l):
			d.bad(it, p, "%s is listed twice; keep one", s)
		default:
			q.Grain = append(q.Grain, l)
		}
	}
}

func (q *Query) decodeSchedule(d *decoder, n *yaml.Node) {
	m := d.mapping(n, "schedule", string(Normal), string(Emergency))
	if m == nil {
		return
	}
	for k, v := range m {
		p := "schedule." + k
		s, ok := d.str(v, p)
		if !ok {
			continue
		}
		if msg := checkCron(s); msg != "" {
			d.bad(v, p, "%s", msg)
			continue
		}
		if k == string(Normal) {
			q.Schedule.Normal = s
		} else {
			q.Schedule.Emergency = s
		}
	}
	// Which schedules must be there depends on emergency_only, decoded
	// already or not at all.
	_, hasNormal := m[string(Normal)]
	_, hasEmergency := m[string(Emergency)]
	switch {
	case q.EmergencyOnly && hasNormal:
		d.bad(m[string(Normal)], "schedule.normal", "an emergency_only query never runs in normal mode; remove this schedule")
	case q.EmergencyOnly && !hasEmergency:
		d.bad(n, "schedule.emergency", "missing; an emergency_only query needs the schedule it runs on in emergency mode")
	case !q.EmergencyOnly && !hasNormal:
		d.bad(n, "schedule.normal", "missing; add a cron schedule such as \"30 1 * * *\" (01:30 daily, Asia/Shanghai)")
	}
}

// checkCron returns what is wrong with a five-field cron expression, or "".
func checkCron(s string) (msg string) {
	const how = `write five fields "minute hour day-of-month month day-of-week" in Asia/Shanghai, e.g. "30 1 * * *"`
	if strings.Contains(s, "TZ=") || strings.HasPrefix(strings.TrimSpace(s), "@") {
		return fmt.Sprintf("%q: time zones and @descriptors are not accepted; %s", s, how)
	}
	defer func() {
		if r := recover(); r != nil { // the parser panics on some malformed input
			msg = fmt.Sprintf("%q is not a cron expression; %s", s, how)
		}
	}()
	sched, err := cronParser.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a cron expression (%v); %s", s, err, how)
	}
	ref := time.Date(2024, 1, 1, 0, 0, 0, 0, calendar.Zone)
	if sched.Next(ref).IsZero() {
		return fmt.Sprintf("%q never fires (no such date); %s", s, how)
	}
	return ""
}

func (q *Query) decodeThresholds(d *decoder, n *yaml.Node) {
	m := d.mapping(n, "thresholds", string(Normal), string(Emergency))
	if m == nil {
		return
	}
	for k, v := range m {
		p := "thresholds." + k
		tm := d.mapping(v, p, "warn", "alert")
		if tm == nil {
			continue
		}
		d.require(v, tm, p, "warn", "alert")
		var t Threshold
		warnN, hasWarn := tm["warn"]
		alertN, hasAlert := tm["alert"]
		var okW, okA bool
		if hasWarn {
			t.Warn, okW = d.number(warnN, p+".warn")
		}
		if hasAlert {
			t.Alert, okA = d.number(alertN, p+".alert")
		}
		if !okW || !okA {
			continue
		}
		// The direction may be missing or wrong; then it is reported on its
		// own and the order cannot be judged.
		switch {
		case q.Direction == HigherIsBetter && t.Alert > t.Warn:
			d.bad(alertN, p+".alert", "%g is above warn %g, but for higher_is_better the alert level is the lower one; swap them", t.Alert, t.Warn)
			continue
		case q.Direction == LowerIsBetter && t.Alert < t.Warn:
			d.bad(alertN, p+".alert", "%g is below warn %g, but for lower_is_better the alert level is the higher one; swap them", t.Alert, t.Warn)
			continue
		}
		if k == string(Normal) {
			q.Thresholds.Normal = &t
		} else {
			q.Thresholds.Emergency = &t
		}
	}
}

// checkSQL checks the statement's shape: one read-only statement using only
// the named parameters the runner binds.
func (q *Query) checkSQL(d *decoder) {
	st := scanSQL(q.SQL, q.SQLLine)
	q.text = st
	bad := func(at pos, format string, args ...any) {
		d.probs = append(d.probs, Problem{File: q.File, Line: at.line, Col: at.col, Msg: "sql: " + fmt.Sprintf(format, args...)})
	}
	if st.unterminated != nil {
		bad(*st.unterminated, "a string, quoted name or comment starting here is never closed; close it")
		return
	}
	if st.first == "" {
		bad(pos{q.SQLLine, 1}, "no statement after the header; write the SELECT that computes the indicator")
		return
	}
	switch st.first {
	case "SELECT", "WITH", "FROM":
	default:
		bad(st.firstAt, "%s: a query is one SELECT (or WITH ... SELECT) statement; start with SELECT or WITH", st.first)
	}
	for _, sc := range st.semicolons {
		if sc.off != st.last {
			bad(sc.at, "a second statement follows this semicolon; a query file holds one statement")
			break
		}
	}
	known := slices.Clone(params)
	for name := range q.Params[Normal] {
		known = append(known, name)
	}
	slices.Sort(known[len(params):])
	use := "$" + strings.Join(known[:len(known)-1], ", $") + " or $" + known[len(known)-1]
	for _, p := range st.params {
		if !slices.Contains(known, p.name) {
			bad(p.at, "$%s is not a parameter the runner binds; use %s", p.name, use)
		}
	}
	for _, p := range st.positional {
		bad(p, "positional parameters are not bound; use %s", use)
	}
}

func joinAny[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
