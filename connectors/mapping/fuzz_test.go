package mapping

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/schemas"
)

// FuzzMapping runs arbitrary source records through testdata/full.yaml,
// which uses every feature. Apply must not panic, and what it returns must
// hold these invariants:
//   - a refusal is a *schemas.RecordError of reason mapping naming a mapped
//     field, and never echoes the source value of the personal field;
//   - an output has only mapped and kept fields; times are canonical RFC
//     3339 in UTC, dates are YYYY-MM-DD, integers are json.Numbers that
//     read as int64, numbers are finite json.Numbers, booleans are bools,
//     lists are arrays, labels are the schema's values, text is trimmed;
//   - the output marshals to JSON.
func FuzzMapping(f *testing.F) {
	raw, err := os.ReadFile("testdata/record.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(raw))
	for _, s := range []string{
		`{}`,
		`{"ajbh":1,"jqxz":1,"fsdd":{"wgbm":"x"},"bjsj":1772330400000,"sfyx":"否","updated_at":"x","bq":[1,{"a":2}]}`,
		`{"ajbh":"a","jqxz":"求助","fsdd":{"wgbm":"g"},"bjsj":"2026/3/1 9:05","sfyx":"是","sjrs":"９","je":"1e308","qx":"2026年2月30日","cl":[{"jasj":"2026-03-01 11:30:00.25"}],"dsr":{"sfzh":"22010419560315042X"},"zt":"挂账","ms":1}`,
		`{"ajbh":" ","cl":{"0":{"jasj":"2026-03-01 11:30:00"}},"dsr":[1],"sjrs":1e400}`,
	} {
		f.Add(s)
	}
	m := compileFile(f, "testdata/full.yaml", "mapped_case")
	mapped := []string{"case_id", "kind", "grid_code", "reported_at", "due_on", "parties_n", "amount", "is_valid",
		"deferred", "tags", "urgency", "closed_at", "owner_id", "note", "updated_at"}
	f.Fuzz(func(t *testing.T, s string) {
		src, err := schemas.Decode([]byte(s))
		if err != nil {
			return
		}
		out, err := m.Apply(src)
		if err != nil {
			var re *schemas.RecordError
			if !errors.As(err, &re) || re.Reason != ReasonMapping || !slices.Contains(mapped, re.Field) {
				t.Fatalf("refusal %#v", err)
			}
			if re.Field == "owner_id" {
				if v, ok := lookup(src, []step{{key: "dsr", index: -1}, {key: "sfzh", index: -1}}); ok {
					if b, _ := json.Marshal(v); len(b) > 6 && strings.Contains(re.Msg, strings.Trim(string(b), `"`)) {
						t.Fatalf("personal value echoed: %s", re.Msg)
					}
				}
			}
			return
		}
		for k, v := range out {
			if !slices.Contains(mapped, k) {
				t.Fatalf("unmapped field %s in the output", k)
			}
			switch k {
			case "reported_at", "closed_at":
				s, _ := v.(string)
				tm, err := time.Parse(time.RFC3339Nano, s)
				if err != nil || !strings.HasSuffix(s, "Z") || tm.UTC().Format(time.RFC3339Nano) != s {
					t.Fatalf("%s = %#v is not canonical RFC 3339 in UTC", k, v)
				}
			case "due_on":
				s, _ := v.(string)
				if _, err := time.Parse(time.DateOnly, s); err != nil {
					t.Fatalf("%s = %#v is not a date", k, v)
				}
			case "parties_n":
				n, ok := v.(json.Number)
				if _, err := n.Int64(); !ok || err != nil {
					t.Fatalf("%s = %#v is not an integer", k, v)
				}
			case "amount":
				n, ok := v.(json.Number)
				x, err := n.Float64()
				if !ok || err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
					t.Fatalf("%s = %#v is not a number", k, v)
				}
			case "is_valid", "deferred":
				if _, ok := v.(bool); !ok {
					t.Fatalf("%s = %#v is not a boolean", k, v)
				}
			case "tags":
				if _, ok := v.([]any); !ok {
					t.Fatalf("%s = %#v is not a list", k, v)
				}
			case "kind":
				if !slices.Contains([]any{"report", "assistance", "complaint"}, v) {
					t.Fatalf("%s = %#v is not a schema value", k, v)
				}
			case "urgency":
				if s, ok := v.(string); !ok || s == "" {
					t.Fatalf("%s = %#v", k, v)
				}
			case "case_id", "grid_code", "owner_id", "note":
				if s, ok := v.(string); !ok || s != strings.TrimSpace(s) || s == "" {
					t.Fatalf("%s = %#v is not trimmed text", k, v)
				}
			}
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("output does not marshal: %v", err)
		}
	})
}

// FuzzCompile compiles arbitrary map blocks: Compile must not panic, must
// explain every refusal, and a mapping it accepts must apply to the test
// record without panicking.
func FuzzCompile(f *testing.F) {
	for _, file := range []string{"testdata/full.yaml", "testdata/police.yaml"} {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(raw))
	}
	f.Add("fields: {case_id: {expr: 'len(src) > 3 ? \"a\" : nil'}}")
	f.Add("fields: {reported_at: {path: 'a[0][1].b', time: [unix, '2006'], timezone: UTC, default: 1}}\nkeep: [x]")
	sc := testSchema(f, "mapped_case")
	raw, err := os.ReadFile("testdata/record.json")
	if err != nil {
		f.Fatal(err)
	}
	rec := decodeJSON(f, string(raw))
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := decode(s)
		if err != nil {
			return
		}
		m, errs := Compile(cfg, sc)
		for _, e := range errs {
			if e.Field == "" || e.Msg == "" {
				t.Fatalf("unexplained problem %#v", e)
			}
		}
		if (m == nil) == (len(errs) == 0) {
			t.Fatalf("mapping %v with problems %v", m != nil, errs)
		}
		if m != nil {
			_, _ = m.Apply(rec)
		}
	})
}
