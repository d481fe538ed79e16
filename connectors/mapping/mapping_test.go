package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yiwang-gov/yiwang/schemas"
)

func testSchema(t testing.TB, name string) *schemas.Schema {
	t.Helper()
	var reg *schemas.Registry
	var err error
	if name == "mapped_case" {
		reg, err = schemas.Load(os.DirFS("testdata/schemas"))
	} else {
		reg, err = schemas.LoadEmbedded()
	}
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := reg.Get(name)
	if !ok {
		t.Fatalf("no schema %s", name)
	}
	return sc
}

// decode reads a map block as the pipelines package does: strictly.
func decode(src string) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	err := dec.Decode(&cfg)
	return cfg, err
}

func compileFile(t testing.TB, file, schema string) *Mapping {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := decode(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	m, errs := Compile(cfg, testSchema(t, schema))
	if len(errs) > 0 {
		t.Fatalf("compile %s: %v", file, errs)
	}
	return m
}

// canon re-encodes JSON with sorted keys.
func canon(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return string(b)
}

func decodeJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	obj, err := schemas.Decode([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return obj
}

// patch returns the test record with fields replaced (null deletes).
func patch(t *testing.T, changes string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("testdata/record.json")
	if err != nil {
		t.Fatal(err)
	}
	obj := decodeJSON(t, string(raw))
	for k, v := range decodeJSON(t, changes) {
		if v == nil {
			delete(obj, k)
		} else {
			obj[k] = v
		}
	}
	return obj
}

const fullOut = `{"amount":12.5,"case_id":"AJ2026030100001","closed_at":"2026-03-01T03:30:00.25Z","deferred":true,` +
	`"due_on":"2026-03-08","grid_code":"220173002001004","is_valid":true,"kind":"report",` +
	`"note":"220173002001004 楼上装修","owner_id":"220104195603150425","parties_n":3,` +
	`"reported_at":"2026-03-01T02:00:00Z","tags":["噪音","夜间","扰民"],"updated_at":"2026-03-01T03:31:00Z","urgency":"normal"}`

func TestApply(t *testing.T) {
	m := compileFile(t, "testdata/full.yaml", "mapped_case")
	sc := testSchema(t, "mapped_case")
	cases := []struct {
		name    string
		changes string // fields of testdata/record.json to replace; null removes
		want    string // the output with want's fields replaced (null: absent)
		invalid bool   // the output is not valid for the schema
	}{
		{"every feature", `{}`, `{}`, false},
		{"second layout", `{"bjsj":"2026/3/1 9:05"}`, `{"reported_at":"2026-03-01T01:05:00Z"}`, false},
		{"RFC 3339 keeps its offset", `{"bjsj":"2026-03-01T10:00:00+09:00"}`, `{"reported_at":"2026-03-01T01:00:00Z"}`, false},
		{"fractional seconds kept", `{"bjsj":"2026-03-01T10:00:00.123456Z"}`, `{"reported_at":"2026-03-01T10:00:00.123456Z"}`, false},
		{"unix_ms", `{"bjsj":1772330400000}`, `{"reported_at":"2026-03-01T02:00:00Z"}`, false},
		{"full-width time", `{"bjsj":"２０２６－０３－０１　１０：００：００"}`, `{"reported_at":"2026-03-01T02:00:00Z"}`, false},
		{"date in the zone", `{"qx":"2026年3月8日"}`, `{"due_on":"2026-03-08"}`, false},
		{"integer from a number", `{"sjrs":4}`, `{"parties_n":4}`, false},
		{"integer from 4.0", `{"sjrs":"4.0"}`, `{"parties_n":4}`, false},
		{"integer default", `{"sjrs":null}`, `{"parties_n":0}`, false},
		{"integer default for blank", `{"sjrs":"  "}`, `{"parties_n":0}`, false},
		{"number from text", `{"je":" 1,5"}`, ``, false},
		{"number from full-width text", `{"je":"１２.５"}`, `{"amount":12.5}`, false},
		{"optional left out", `{"je":null,"bq":"","qx":null,"dsr":null,"ms":null,"cl":[]}`, `{"amount":null,"tags":null,"due_on":null,"owner_id":null,"closed_at":null,"note":"220173002001004"}`, false},
		{"list passes through", `{"bq":["a","b"]}`, `{"tags":["a","b"]}`, false},
		{"label by number", `{"jqxz":1}`, `{"kind":"report"}`, false},
		{"label trimmed", `{"jqxz":" 求助 "}`, `{"kind":"assistance"}`, false},
		{"expr false", `{"zt":"已办结"}`, `{"deferred":false}`, false},
		{"expr over an absent field", `{"zt":null}`, `{"deferred":false}`, false},
		{"default used for blank", `{"level":" "}`, `{"urgency":"normal"}`, false},
		{"value kept when present", `{"level":"urgent"}`, `{"urgency":"urgent"}`, false},
		{"path a.0 form", `{"cl":[{"jasj":"2026-03-02 00:00:00"}]}`, `{"closed_at":"2026-03-01T16:00:00Z"}`, false},
		{"keep copies unchanged", `{"updated_at":"2026-03-01 03:31"}`, `{"updated_at":"2026-03-01 03:31"}`, true},
		{"keep absent", `{"updated_at":null}`, `{"updated_at":null}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := patch(t, c.changes)
			before := canon(t, src)
			got, err := m.Apply(src)
			if c.want == "" {
				if err == nil {
					t.Fatalf("want an error, got %s", canon(t, got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if canon(t, src) != before {
				t.Fatal("Apply changed its input")
			}
			want := decodeJSON(t, fullOut)
			for k, v := range decodeJSON(t, c.want) {
				if v == nil {
					delete(want, k)
				} else {
					want[k] = v
				}
			}
			if g, w := canon(t, got), canon(t, want); g != w {
				t.Fatalf("got  %s\nwant %s", g, w)
			}
			// The output is the schema's source form.
			if c.invalid {
				return
			}
			if err := sc.Validate(got, nil, time.Now()); err != nil {
				t.Fatalf("output does not validate: %v", err)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	m := compileFile(t, "testdata/full.yaml", "mapped_case")
	cases := []struct {
		name, changes, field, msg string
	}{
		{"no layout matches", `{"bjsj":"2026-13-01 10:00"}`, "reported_at",
			`bjsj: "2026-13-01 10:00" matches none of the layouts 2006-01-02 15:04:05; 2006/1/2 15:04; unix_ms; RFC 3339`},
		{"missing", `{"bjsj":null}`, "reported_at", `bjsj: missing from the record`},
		{"empty", `{"ajbh":" "}`, "case_id", `ajbh: is empty`},
		{"null counts as empty", `{"fsdd":{"wgbm":null}}`, "grid_code", `fsdd.wgbm: is empty (and 1 more: note)`},
		{"path into a scalar", `{"fsdd":"某小区"}`, "grid_code", `fsdd.wgbm: missing from the record (and 1 more: note)`},
		{"unknown label", `{"jqxz":"报案"}`, "kind", `jqxz: "报案" is not a known label (known: 1, 投诉, 报警, 求助)`},
		{"label of the wrong shape", `{"sfyx":{"a":1}}`, "is_valid", `sfyx: an object is not a label: want text, a number or true/false`},
		{"not a whole number", `{"sjrs":"2.5"}`, "parties_n", `sjrs: "2.5" is not a whole number`},
		{"not a number", `{"je":"十二"}`, "amount", `je: "十二" is not a number`},
		{"not a list", `{"bq":{"a":1}}`, "tags", `bq: an object is not a list or text`},
		{"not text", `{"ajbh":true}`, "case_id", `ajbh: true is not text`},
		{"epoch out of range", `{"bjsj":99999999999999999}`, "reported_at",
			`bjsj: 99999999999999999 matches none of the layouts 2006-01-02 15:04:05; 2006/1/2 15:04; unix_ms; RFC 3339`},
		{"expr runtime error", `{"ms":5}`, "note",
			`expr: invalid operation: string + int (1:21)`},
		{"year out of range", `{"bjsj":-99999999999999}`, "reported_at", `bjsj: -99999999999999 is in the year -1199, outside 0001-9999`},
		{"personal value withheld", `{"dsr":{"sfzh":["220104195603150425"]}}`, "owner_id",
			`dsr.sfzh: the value (withheld: personal data) is not text`},
		{"phone numbers masked in messages", `{"jqxz":"13800138000"}`, "kind",
			`jqxz: "138****8000" is not a known label (known: 1, 投诉, 报警, 求助)`},
		{"the first error and a count of the rest", `{"ajbh":null,"jqxz":"x","sjrs":"y"}`, "case_id",
			`ajbh: missing from the record (and 2 more: kind, parties_n)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Apply(patch(t, c.changes))
			var re *schemas.RecordError
			if !errors.As(err, &re) {
				t.Fatalf("want a *schemas.RecordError, got %v", err)
			}
			if re.Reason != ReasonMapping || re.Field != c.field || re.Msg != c.msg {
				t.Fatalf("got  %s %s %q\nwant %s %s %q", re.Reason, re.Field, re.Msg, ReasonMapping, c.field, c.msg)
			}
		})
	}
}

func TestStripPersonal(t *testing.T) {
	m := compileFile(t, "testdata/full.yaml", "mapped_case")
	src := patch(t, `{}`)
	if !m.StripPersonal(src) {
		t.Fatal("nothing stripped")
	}
	b, _ := json.Marshal(src)
	if bytes.Contains(b, []byte("220104195603150425")) || !bytes.Contains(b, []byte("13800138000")) {
		t.Fatalf("want only the mapped ID number removed: %s", b)
	}
	if m.StripPersonal(src) {
		t.Fatal("stripped twice")
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []FieldError
	}{
		{"unknown field and missing required", `
fields:
  foo: bar
  case_id: ajbh
`, []FieldError{
			{Field: "fields.foo", Msg: `unknown schema field "foo"; mapped_case has: case_id, kind, grid_code, reported_at, due_on, parties_n, amount, is_valid, deferred, tags, urgency, closed_at, owner_id, note, updated_at`},
			{Field: "fields", Msg: "mapped_case requires kind, grid_code, reported_at, updated_at: map them here or list them in keep"},
		}},
		{"time problems", `
fields:
  case_id: ajbh
  kind: {path: k, values: {a: report, b: nonsense, c: 3}}
  grid_code: {path: g, time: ["2006-01-02"], timezone: Asia/Shanghai}
  reported_at: {path: t, time: ["2006-01-02 15:04:05", "YYYY-MM-DD"]}
  closed_at: {path: c, timezone: Asia/Shangai}
  due_on: {path: d, time: "2006-01-02", timezone: Mars/Olympus}
  parties_n: {path: n, type: integer, time: unix, timezone: UTC}
  amount: {path: a, type: string}
  tags: {path: t, type: string}
keep: [updated_at, foo, updated_at]
`, []FieldError{
			{Field: "fields.amount.type", Msg: "type string does not fit amount (DOUBLE); use number"},
			{Field: "fields.closed_at.timezone", Msg: "has no effect without time layouts; remove it or add time"},
			{Field: "fields.closed_at.timezone", Msg: `unknown time zone "Asia/Shangai": use an IANA name such as Asia/Shanghai`},
			{Field: "fields.due_on.timezone", Msg: `unknown time zone "Mars/Olympus": use an IANA name such as Asia/Shanghai`},
			{Field: "fields.grid_code.time", Msg: "time layouts need a time field; grid_code is VARCHAR"},
			{Field: "fields.kind.values.b", Msg: `"nonsense" is not a value of kind; it takes report, assistance, complaint`},
			{Field: "fields.kind.values.c", Msg: `"3" is not a value of kind; it takes report, assistance, complaint`},
			{Field: "fields.parties_n.time", Msg: "time layouts need a time field; parties_n is BIGINT"},
			{Field: "fields.reported_at.time.1", Msg: `layout "YYYY-MM-DD" is not a Go time layout: write the reference time Mon Jan 2 15:04:05 2006 as the source writes it, e.g. 2006-01-02 15:04:05 (or unix, unix_ms)`},
			{Field: "fields.reported_at.timezone", Msg: "time needs timezone: the zone of naive times, e.g. Asia/Shanghai"},
			{Field: "fields.tags.type", Msg: "type string does not fit tags (VARCHAR[]); use list"},
			{Field: "keep.1", Msg: `unknown schema field "foo"; mapped_case has: case_id, kind, grid_code, reported_at, due_on, parties_n, amount, is_valid, deferred, tags, urgency, closed_at, owner_id, note, updated_at`},
			{Field: "keep.2", Msg: `"updated_at" is listed twice`},
		}},
		{"types, values, defaults, optional, expr", `
fields:
  case_id: {path: a, expr: b}
  kind: {values: {a: report}}
  grid_code: {path: "fsdd..wgbm"}
  reported_at: {path: t, type: integer, optional: true}
  parties_n: {path: n, type: int}
  amount: {path: x, type: integer, default: 1.5}
  is_valid: {path: v, values: {是: yes, 否: false}}
  deferred: {expr: 'zt =='}
  urgency: {expr: 'foo(zt)'}
  tags: {path: "bq[x]"}
  note: {path: ms, values: {}}
  due_on: {path: d, type: string, time: "2006-01-02", timezone: UTC}
  updated_at: {path: u, optional: true}
keep: [updated_at]
`, []FieldError{
			{Field: "fields.amount.default", Msg: `1.5 is not a whole number`},
			{Field: "fields.case_id", Msg: "has both path and expr; give one"},
			{Field: "fields.deferred.expr", Msg: "unexpected token EOF (1:5)"},
			{Field: "fields.due_on.time", Msg: "time layouts need type time; remove type string"},
			{Field: "fields.grid_code.path", Msg: `path "fsdd..wgbm" has an empty name; write names separated by dots, e.g. fsdd.wgbm or items[0].code`},
			{Field: "fields.is_valid.values.是", Msg: `"yes" is not true/false (map labels such as 是/否 with values)`},
			{Field: "fields.kind", Msg: "needs path (where the value is in the source record) or expr (how to compute it)"},
			{Field: "fields.note.values", Msg: "is empty; list the source's labels or remove values"},
			{Field: "fields.parties_n.type", Msg: `unknown type "int"; use string, integer, number, boolean, time or list`},
			{Field: "fields.reported_at.type", Msg: "type integer does not fit reported_at (TIMESTAMPTZ); use time"},
			{Field: "fields.tags.path", Msg: `path "bq[x]": an index is a number in brackets, e.g. items[0]; write names separated by dots, e.g. fsdd.wgbm or items[0].code`},
			{Field: "fields.updated_at.optional", Msg: "updated_at is required by mapped_case: give a default instead, or remove optional"},
			{Field: "fields.urgency.expr", Msg: "unknown function foo (1:1); only expr's builtins are available, e.g. len, trim, upper, split, now"},
			{Field: "keep.0", Msg: "updated_at is also under fields; give it in one place"},
		}},
	}
	sc := testSchema(t, "mapped_case")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := decode(c.yaml)
			if err != nil {
				t.Fatal(err)
			}
			m, errs := Compile(cfg, sc)
			if m != nil {
				t.Fatal("a Mapping despite problems")
			}
			if !reflect.DeepEqual(errs, c.want) {
				var b strings.Builder
				for _, e := range errs {
					b.WriteString("\t\t\t{" + strings.Join([]string{quote(e.Field), quote(e.Msg)}, ", ") + "},\n")
				}
				t.Fatalf("got\n%s", b.String())
			}
		})
	}
}

func quote(s string) string {
	if !strings.Contains(s, "`") {
		return "`" + s + "`"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func TestDecodeYAML(t *testing.T) {
	cfg, err := decode(`
fields:
  a: jjdbh
  b: {path: x, time: "2006-01-02", timezone: Asia/Shanghai, optional: true}
  c: {path: y, values: {是: true, 1: 2, 否: null, 2026-01-01: x}, default: 0}
keep: [k]
`)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Fields: map[string]Field{
		"a": {Path: "jjdbh"},
		"b": {Path: "x", Time: []string{"2006-01-02"}, Timezone: "Asia/Shanghai", Optional: true},
		"c": {Path: "y", Values: map[string]any{"是": true, "1": 2, "否": nil, "2026-01-01": "x"}, Default: 0},
	}, Keep: []string{"k"}}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %#v\nwant %#v", cfg, want)
	}
	_, err = decode(`
fields:
  a: {path: x, optinal: true, time: [[1]]}
  b: [x]
  c: {path: [x], values: [a], default: {a: 1}}
bogus: 1
`)
	want2 := "yaml: unmarshal errors:\n" +
		"  line 3: time: layouts must be strings such as \"2006-01-02 15:04:05\"\n" +
		"  line 4: a field mapping is a path (e.g. jjdbh) or a mapping with default, expr, optional, path, time, timezone, type, values\n" +
		"  line 5: path: must be a path such as fsdd.wgbm\n" +
		"  line 5: values: must be a mapping from source labels to schema values\n" +
		"  line 5: default: must be a single value\n" +
		"  line 6: field bogus not found in type mapping.Config"
	if err == nil || err.Error() != want2 {
		t.Fatalf("got  %v\nwant %s", err, want2)
	}
	// A misspelt key decodes, and Compile reports it at its place.
	cfg, err = decode("fields:\n  incident_id: {path: jjdbh, optinal: true}\n")
	if err != nil {
		t.Fatal(err)
	}
	_, errs := Compile(cfg, testSchema(t, "police_incident"))
	found := false
	for _, e := range errs {
		if e.Field == "fields.incident_id.optinal" && strings.HasPrefix(e.Msg, "unknown key; a field mapping has default, expr") {
			found = true
		}
	}
	if !found {
		t.Fatalf("misspelt key not reported: %v", errs)
	}
}

// TestPoliceSample compiles a realistic mapping of a police platform onto
// the embedded police_incident schema.
func TestPoliceSample(t *testing.T) {
	m := compileFile(t, "testdata/police.yaml", "police_incident")
	sc := testSchema(t, "police_incident")
	src := decodeJSON(t, `{"jjdbh":"J3201062026030100017","bjsj":"2026-03-01 10:00:00","jqxz":"报警","jqlb":"治安","jqxl":"打架斗殴",
		"sfyx":"是","pcsdm":"320106010000","fsdd":{"wgbm":"220173002001004"},"ddsj":"2026-03-01 10:12:30","jasj":"",
		"cjjg":"调解","gxsj":"2026-03-01 10:40:00","bjrdh":"13800138000"}`)
	got, err := m.Apply(src)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"arrived_at":"2026-03-01T02:12:30Z","call_type":"report","category_l1":"public_order","category_l2":"打架斗殴",` +
		`"disposal":"mediated","grid_code":"220173002001004","incident_id":"J3201062026030100017","is_valid":true,` +
		`"received_at":"2026-03-01T02:00:00Z","station_code":"320106010000","updated_at":"2026-03-01T02:40:00Z"}`
	if g := canon(t, got); g != want {
		t.Fatalf("got  %s\nwant %s", g, want)
	}
	if err := sc.Validate(got, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestEvidence: a dead letter keeps what the mapping reads and nothing
// else — not the caller's name, phone or address the platform also sends.
func TestEvidence(t *testing.T) {
	m, errs := Compile(Config{Fields: map[string]Field{
		"incident_id":  {Path: "jjdbh"},
		"received_at":  {Path: "bjsj", Time: []string{"2006-01-02 15:04:05"}, Timezone: "Asia/Shanghai"},
		"call_type":    {Expr: `src.jqxz == "报警" ? "report" : "consult"`},
		"category_l1":  {Expr: `lb == nil ? "other" : "criminal"`},
		"is_valid":     {Path: "sfyx", Values: map[string]any{"是": true, "否": false}},
		"station_code": {Path: "pcsdm"},
		"grid_code":    {Path: "fsdd.wgbm"},
		"updated_at":   {Path: "gxsj", Time: []string{"2006-01-02 15:04:05"}, Timezone: "Asia/Shanghai"},
	}}, testSchema(t, "police_incident"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var src map[string]any
	if err := json.Unmarshal([]byte(`{"jjdbh":"J1","bjsj":"2026-03-01 10:00:00","jqxz":"报警","lb":"x","sfyx":"是","pcsdm":"P1",
"fsdd":{"wgbm":"220173002001001","dz":"某路某号"},"gxsj":"2026-03-01 10:00:00","bjrxm":"张某","bjrdh":"13800138000"}`), &src); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(m.Evidence(src))
	if want := `{"bjsj":"2026-03-01 10:00:00","fsdd":{"wgbm":"220173002001001"},"gxsj":"2026-03-01 10:00:00","jjdbh":"J1","jqxz":"报警","lb":"x","pcsdm":"P1","sfyx":"是"}`; string(got) != want {
		t.Fatalf("evidence\n got %s\nwant %s", got, want)
	}
}

// TestExprErrorsMaskNumbers: an expression's runtime error may quote its
// operands; ID and phone numbers in it are masked.
func TestExprErrorsMaskNumbers(t *testing.T) {
	m, errs := Compile(Config{Fields: map[string]Field{
		"incident_id":  {Path: "jjdbh"},
		"received_at":  {Path: "bjsj", Time: []string{"2006-01-02 15:04:05"}, Timezone: "Asia/Shanghai"},
		"call_type":    {Expr: `int(sfzh) > 0 ? "report" : "consult"`},
		"category_l1":  {Expr: `"other"`},
		"is_valid":     {Expr: `true`},
		"station_code": {Path: "pcsdm"},
		"grid_code":    {Path: "wgbm"},
		"updated_at":   {Path: "gxsj", Time: []string{"2006-01-02 15:04:05"}, Timezone: "Asia/Shanghai"},
	}}, testSchema(t, "police_incident"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	_, err := m.Apply(map[string]any{"jjdbh": "J1", "bjsj": "2026-03-01 10:00:00", "sfzh": "11010119900307123X", "pcsdm": "P1",
		"wgbm": "220173002001001", "gxsj": "2026-03-01 10:00:00"})
	if err == nil || strings.Contains(err.Error(), "11010119900307123X") || !strings.Contains(err.Error(), "call_type") {
		t.Fatalf("error %v", err)
	}
}

func TestZoneAbbreviationsRefused(t *testing.T) {
	_, errs := Compile(Config{Fields: map[string]Field{
		"incident_id": {Path: "jjdbh"},
		"received_at": {Path: "bjsj", Time: []string{"2006-01-02 15:04 MST", "2006-01-02T15:04:05-0700"}, Timezone: "Asia/Shanghai"},
	}}, testSchema(t, "police_incident"))
	n := 0
	for _, e := range errs {
		if strings.HasPrefix(e.Field, "fields.received_at.time") {
			n++
			if e.Field != "fields.received_at.time.0" || !strings.Contains(e.Msg, "zone abbreviation") {
				t.Errorf("%+v", e)
			}
		}
	}
	if n != 1 {
		t.Fatalf("layout problems: %v", errs)
	}
}

// TestDateInItsOwnZone: a date field read from a time with its own offset
// is that time's date there, unless a timezone says where to take it.
func TestDateInItsOwnZone(t *testing.T) {
	sc := testSchema(t, "mapped_case")
	base := map[string]Field{
		"case_id": {Path: "id"}, "kind": {Expr: `"report"`}, "grid_code": {Path: "g"},
		"reported_at": {Path: "t"}, "updated_at": {Path: "t"},
	}
	for _, c := range []struct {
		spec Field
		in   string
		want string
	}{
		{Field{Path: "d", Type: "time"}, "2026-03-01T01:00:00+08:00", "2026-03-01"},
		{Field{Path: "d", Type: "time"}, "2026-02-28T17:00:00Z", "2026-02-28"},
		{Field{Path: "d", Type: "time", Timezone: "Asia/Shanghai"}, "2026-02-28T17:00:00Z", "2026-03-01"},
	} {
		fields := map[string]Field{"due_on": c.spec}
		for k, v := range base {
			fields[k] = v
		}
		m, errs := Compile(Config{Fields: fields}, sc)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		out, err := m.Apply(map[string]any{"id": "C1", "g": "220173002001001", "t": "2026-03-01T02:00:00Z", "d": c.in})
		if err != nil {
			t.Fatal(err)
		}
		if out["due_on"] != c.want {
			t.Errorf("%+v on %s: %v, want %s", c.spec, c.in, out["due_on"], c.want)
		}
	}
}
