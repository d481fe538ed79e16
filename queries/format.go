package queries

import (
	"bytes"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Format writes q back as a query file: its header in canonical form (the
// fields in the order of the documentation, min_denominator always written)
// and its SQL unchanged. Parse(Format(q)) gives q's header and SQL again.
func Format(q *Query) []byte {
	m := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, v *yaml.Node) {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	}
	add("name", str(q.Name))
	add("title", mapping("zh", str(q.Title.Zh), "en", str(q.Title.En)))
	add("kind", str(string(q.Kind)))
	var sched []any
	if q.Schedule.Normal != "" {
		sched = append(sched, "normal", str(q.Schedule.Normal))
	}
	if q.Schedule.Emergency != "" {
		sched = append(sched, "emergency", str(q.Schedule.Emergency))
	}
	add("schedule", mapping(sched...))
	if q.Kind == KindRule {
		add("period", str(string(q.Period)))
		add("severity", str(q.Severity))
		add("records", str(q.Records))
		if ps := formatModeParams(q.Params); ps != nil {
			add("params", ps)
		}
		return finish(q, m, add)
	}
	grain := make([]string, len(q.Grain))
	for i, l := range q.Grain {
		grain[i] = string(l)
	}
	add("grain", flowList(grain))
	add("period", str(string(q.Period)))
	add("unit", str(string(q.Unit)))
	add("direction", str(string(q.Direction)))
	var th []any
	for _, x := range []struct {
		mode string
		t    *Threshold
	}{{"normal", q.Thresholds.Normal}, {"emergency", q.Thresholds.Emergency}} {
		if x.t != nil {
			pair := mapping("warn", num(x.t.Warn), "alert", num(x.t.Alert))
			pair.Style = yaml.FlowStyle
			th = append(th, x.mode, pair)
		}
	}
	if len(th) > 0 {
		add("thresholds", mapping(th...))
	}
	add("min_denominator", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(q.MinDenominator)})
	if len(q.Detect) > 0 {
		list := &yaml.Node{Kind: yaml.SequenceNode}
		for _, d := range q.Detect {
			levels := make([]string, len(d.Levels))
			for i, l := range d.Levels {
				levels[i] = string(l)
			}
			kv := []any{"rule", str(d.Rule), "levels", flowList(levels), "severity", str(d.Severity)}
			if ps := formatModeParams(d.Params); ps != nil {
				kv = append(kv, "params", ps)
			}
			list.Content = append(list.Content, mapping(kv...))
		}
		add("detect", list)
	}
	if q.LookbackMonths > 0 {
		add("lookback_months", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(q.LookbackMonths)})
	}
	return finish(q, m, add)
}

// formatModeParams writes parameters per mode, or nil for none.
func formatModeParams(params map[Mode]map[string]float64) *yaml.Node {
	var ps []any
	for _, mode := range []Mode{Normal, Emergency} {
		vals := params[mode]
		if len(vals) == 0 {
			continue
		}
		var kv []any
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			kv = append(kv, k, num(vals[k]))
		}
		pm := mapping(kv...)
		pm.Style = yaml.FlowStyle
		ps = append(ps, string(mode), pm)
	}
	if len(ps) == 0 {
		return nil
	}
	return mapping(ps...)
}

// finish adds the fields every kind of query has after its own, and
// writes the file.
func finish(q *Query, m *yaml.Node, add func(string, *yaml.Node)) []byte {
	if q.EmergencyOnly {
		add("emergency_only", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	}
	add("inputs", flowList(q.Inputs))
	add("definition", mapping("zh", str(q.Definition.Zh), "en", str(q.Definition.En), "source", str(q.Definition.Source)))

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	_ = enc.Encode(m) // encoding a node tree of strings cannot fail
	_ = enc.Close()
	// "*/" or "/*" in a value would end or nest the SQL comment around the
	// header; str made such values double-quoted, where \x2F is a slash.
	body := strings.NewReplacer("*/", `*\x2F`, "/*", `\x2F*`).Replace(buf.String())
	return []byte("/*\n" + body + "*/\n" + q.SQL)
}

func str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.Contains(s, "*/") || strings.Contains(s, "/*") {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func num(f float64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(f, 'g', -1, 64)}
}

func mapping(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: kv[i].(string)}, kv[i+1].(*yaml.Node))
	}
	return m
}

func flowList(items []string) *yaml.Node {
	l := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range items {
		l.Content = append(l.Content, str(s))
	}
	return l
}
