package mapping

import (
	"encoding/json"
	"testing"
)

// TestConvert covers each type's conversion of one value, through the
// field spec as a user writes it.
func TestConvert(t *testing.T) {
	sc := testSchema(t, "mapped_case")
	cases := []struct {
		name, field, spec, in, want string // in and want are JSON; want "" means refused
	}{
		{"integer with spaces", "parties_n", `{path: x}`, `" 12 "`, `12`},
		{"integer with a plus", "parties_n", `{path: x}`, `"+7"`, `7`},
		{"integer 3e2", "parties_n", `{path: x}`, `3e2`, `300`},
		{"integer beyond int64", "parties_n", `{path: x}`, `99999999999999999999`, ``},
		{"integer from true", "parties_n", `{path: x}`, `true`, ``},
		{"number from an integer", "amount", `{path: x}`, `3`, `3`},
		{"number exponent", "amount", `{path: x}`, `"1e3"`, `1000`},
		{"number NaN refused", "amount", `{path: x}`, `"NaN"`, ``},
		{"number hex refused", "amount", `{path: x}`, `"0x10"`, ``},
		{"number of an integer field", "amount", `{path: x, type: integer}`, `"4"`, `4`},
		{"boolean true", "is_valid", `{path: x}`, `true`, `true`},
		{"boolean 1", "is_valid", `{path: x}`, `1`, `true`},
		{"boolean \"0\"", "is_valid", `{path: x}`, `"0"`, `false`},
		{"boolean TRUE", "is_valid", `{path: x}`, `"TRUE"`, `true`},
		{"boolean 是 needs values", "is_valid", `{path: x}`, `"是"`, ``},
		{"values to null", "urgency", `{path: x, values: {无: null, 急: urgent}}`, `"无"`, `null`},
		{"values by boolean", "urgency", `{path: x, values: {true: urgent, false: normal}}`, `false`, `"normal"`},
		{"list split on every separator", "tags", `{path: x}`, `"a、b,c，d;e；f"`, `["a","b","c","d","e","f"]`},
		{"list blank parts dropped", "tags", `{path: x}`, `"a,, ,b"`, `["a","b"]`},
		{"string from a number", "case_id", `{path: x}`, `20260301`, `"20260301"`},
		{"string trimmed", "case_id", `{path: x}`, `" A1\u3000"`, `"A1"`},
		{"string from a list refused", "case_id", `{path: x}`, `["a"]`, ``},
		{"time unix seconds", "reported_at", `{path: x, time: unix, timezone: UTC}`, `1772330400`, `"2026-03-01T02:00:00Z"`},
		{"time unix seconds as text", "reported_at", `{path: x, time: unix, timezone: UTC}`, `"1772330400"`, `"2026-03-01T02:00:00Z"`},
		{"time with its own zone in the layout", "reported_at", `{path: x, time: "2006-01-02 15:04:05 -0700", timezone: Asia/Shanghai}`, `"2026-03-01 10:00:00 +0000"`, `"2026-03-01T10:00:00Z"`},
		{"time RFC 3339 without layouts", "reported_at", `{path: x}`, `"2026-03-01T10:00:00+08:00"`, `"2026-03-01T02:00:00Z"`},
		{"time naive without layouts", "reported_at", `{path: x}`, `"2026-03-01 10:00:00"`, ``},
		{"time lowercase t refused", "reported_at", `{path: x}`, `"2026-03-01t10:00:00Z"`, ``},
		{"time leap second refused", "reported_at", `{path: x}`, `"2026-12-31T23:59:60Z"`, ``},
		{"time zero fraction dropped", "reported_at", `{path: x}`, `"2026-03-01T10:00:00.000Z"`, `"2026-03-01T10:00:00Z"`},
		{"date from RFC 3339 in the zone", "due_on", `{path: x, time: "2006-01-02", timezone: Asia/Shanghai}`, `"2026-03-01T20:00:00Z"`, `"2026-03-02"`},
		{"date as text", "due_on", `{path: x}`, `"2026-03-01"`, `"2026-03-01"`},
		{"default of a time", "closed_at", `{path: x, default: "2026-03-01T10:00:00+08:00"}`, `null`, `"2026-03-01T02:00:00Z"`},
		{"expr number", "parties_n", `{expr: 'x * 2'}`, `21`, `42`},
		{"expr time", "reported_at", `{expr: 'date(x)'}`, `"2026-03-01T10:00:00+08:00"`, `"2026-03-01T02:00:00Z"`},
		{"expr nested absent with ?.", "case_id", `{expr: 'x?.y ?? "none"'}`, `null`, `"none"`},
		{"expr no value", "case_id", `{expr: 'x'}`, `null`, ``},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := decode("fields: {" + c.field + ": " + c.spec + "}")
			if err != nil {
				t.Fatal(err)
			}
			col, _ := sc.Column(c.field)
			f, errs := compileField("fields."+c.field, c.field, col, cfg.Fields[c.field], sc)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			m := &Mapping{}
			if f.prog != nil {
				m.exprF = []*field{f}
			} else {
				m.pathF = []*field{f}
			}
			got, err := m.Apply(decodeJSON(t, `{"x":`+c.in+`}`))
			if c.want == "" {
				if err == nil {
					t.Fatalf("want refused, got %s", canon(t, got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want any
			_ = json.Unmarshal([]byte(c.want), &want)
			if g, w := canon(t, got[c.field]), canon(t, want); g != w {
				t.Fatalf("got %s, want %s", g, w)
			}
		})
	}
}
