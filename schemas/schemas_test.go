package schemas

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

type areaSet map[string]bool

func (a areaSet) Known(code string) bool { return a[code] }

var testAreas = areaSet{"220173002": true, "220173002001": true, "220173002001001": true}

var now = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

func TestEmbeddedSchemasLoad(t *testing.T) {
	reg, err := LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"door_visit", "grid_event", "household", "market_entity", "market_inspection", "police_incident", "store", "team", "team_member", "team_record", "work_order"}
	if got := strings.Join(reg.Names(), ","); got != strings.Join(want, ",") {
		t.Fatalf("names = %s, want %s", got, strings.Join(want, ","))
	}
	for _, s := range reg.All() {
		ddl := s.CreateTable()
		if !strings.Contains(ddl, "PRIMARY KEY ("+strings.Join(s.Key, ", ")+")") {
			t.Errorf("%s: DDL lacks primary key:\n%s", s.Name, ddl)
		}
		for _, c := range s.Columns {
			if c.PII != PIINone && c.PII != PIIScan && strings.Contains(ddl, " "+c.Name+" ") {
				t.Errorf("%s: personal field %s became a column", s.Name, c.Name)
			}
		}
	}
	h, _ := reg.Get("household")
	for _, want := range []string{"tags VARCHAR[]", "updated_at TIMESTAMPTZ NOT NULL", "head_id_number_key VARCHAR,", "head_id_number_masked VARCHAR,",
		"head_id_number_birth_year BIGINT,", "head_id_number_gender VARCHAR,", "head_phone_key VARCHAR,", "head_phone_masked VARCHAR,"} {
		if !strings.Contains(h.CreateTable(), want) {
			t.Errorf("household DDL lacks %q:\n%s", want, h.CreateTable())
		}
	}
}

func TestChecksums(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func() error
		ok   bool
	}{
		{"usci standard example corrected", func() error { return ValidUSCI("91350100M000100Y43") }, true},
		{"usci standard example as printed", func() error { return ValidUSCI("91350100M000100Y4Z") }, false},
		{"usci synthetic individual", func() error { return ValidUSCI("92220104MA17XK9H6H") }, true},
		{"usci wrong check", func() error { return ValidUSCI("92220104MA17XK9H6J") }, false},
		{"usci short", func() error { return ValidUSCI("9222010") }, false},
		{"usci forbidden letter", func() error { return ValidUSCI("92220104MA17XK9I6H") }, false},
		{"id standard sample", func() error { return ValidResidentID("11010519491231002X", now) }, true},
		{"id 1880", func() error { return ValidResidentID("440524188001010014", now) }, true},
		{"id X", func() error { return ValidResidentID("34052419800101001X", now) }, true},
		{"id synthetic", func() error { return ValidResidentID("220104195603150425", now) }, true},
		{"id 31 february", func() error { return ValidResidentID("11010519490231002X", now) }, false},
		{"id wrong check", func() error { return ValidResidentID("220104195603150426", now) }, false},
		{"id future birth", func() error { return ValidResidentID("220104209901010011", now) }, false},
		{"mobile", func() error { return ValidMobile("13800138000") }, true},
		{"mobile 12", func() error { return ValidMobile("12800138000") }, false},
		{"area street", func() error { return AreaCodeFormat("220173002") }, true},
		{"area grid", func() error { return AreaCodeFormat("220173002001001") }, true},
		{"area township 000", func() error { return AreaCodeFormat("220173000001001") }, false},
		{"area community 600", func() error { return AreaCodeFormat("220173002600001") }, false},
		{"area grid 000", func() error { return AreaCodeFormat("220173002001000") }, false},
		{"area letters", func() error { return AreaCodeFormat("22017300200100A") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fn()
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

const validEvent = `{"event_id":"E1","source":"resident","category_major":"01","urgency":"normal","grid_code":"220173002001001","status":"reported","reported_at":"2026-11-26T08:00:00+08:00","updated_at":"2026-11-26T08:00:00+08:00"}`

func TestValidateRecords(t *testing.T) {
	reg, err := LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := reg.Get("grid_event")
	repl := func(old, new string) string { return strings.Replace(validEvent, old, new, 1) }
	for _, tc := range []struct {
		name, raw, reason, field string
	}{
		{"valid", validEvent, "", ""},
		{"malformed", `{"event_id":`, ReasonMalformed, ""},
		{"not an object", `[1,2]`, ReasonMalformed, ""},
		{"missing required", repl(`"status":"reported",`, ""), ReasonSchema, ""},
		{"bad enum", repl(`"urgency":"normal"`, `"urgency":"soon"`), ReasonSchema, "urgency"},
		{"bad time", repl(`"reported_at":"2026-11-26T08:00:00+08:00"`, `"reported_at":"yesterday"`), ReasonSchema, "reported_at"},
		{"unknown field", repl(`"event_id":"E1"`, `"event_id":"E1","x":1`), ReasonSchema, ""},
		{"grid code short", repl(`220173002001001`, `22017300200100`), ReasonAreaCode, "grid_code"},
		{"grid code bad segment", repl(`220173002001001`, `220173000001001`), ReasonAreaCode, "grid_code"},
		{"grid in unknown community", repl(`220173002001001`, `220173002009001`), ReasonUnknownArea, "grid_code"},
		{"orphan grid in known community", repl(`220173002001001`, `220173002001077`), "", ""},
		{"leap second", repl(`"reported_at":"2026-11-26T08:00:00+08:00"`, `"reported_at":"2026-12-31T23:59:60Z"`), ReasonSchema, "reported_at"},
		{"lower-case t", repl(`"reported_at":"2026-11-26T08:00:00+08:00"`, `"reported_at":"2026-11-26t08:00:00+08:00"`), ReasonSchema, "reported_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := Decode([]byte(tc.raw))
			if err == nil {
				err = ev.Validate(obj, testAreas, now)
			}
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				row, err := ev.Row(obj)
				if err != nil || len(row) != len(ev.TableColumns()) {
					t.Fatalf("row %v err %v", row, err)
				}
				return
			}
			var re *RecordError
			if !errors.As(err, &re) || re.Reason != tc.reason {
				t.Fatalf("err = %v, want reason %s", err, tc.reason)
			}
			if tc.field != "" && re.Field != tc.field {
				t.Fatalf("field = %q, want %q (%v)", re.Field, tc.field, err)
			}
		})
	}
}

func TestPersonalDataNeverEchoed(t *testing.T) {
	reg, _ := LoadEmbedded()
	h, _ := reg.Get("household")
	raw := `{"household_id":"H1","grid_code":"220173002001001","room_code":"22017300200100012-02-0301","resident_type":"registered","members_n":3,"head_id_number":"220104195603150426","updated_at":"2026-11-26T08:00:00Z"}`
	obj, err := Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	err = h.Validate(obj, testAreas, now)
	if err == nil || strings.Contains(err.Error(), "220104195603150426") {
		t.Fatalf("err = %v: want a refusal that does not contain the number", err)
	}
	if got := h.StripPII(obj); len(got) != 1 || got[0] != "head_id_number" {
		t.Fatalf("StripPII = %v", got)
	}
	if _, ok := obj["head_id_number"]; ok {
		t.Fatal("id number still present")
	}
}

func TestVersionAndKey(t *testing.T) {
	reg, _ := LoadEmbedded()
	ev, _ := reg.Get("grid_event")
	obj, _ := Decode([]byte(validEvent))
	if ev.KeyOf(obj) != "E1" {
		t.Fatal(ev.KeyOf(obj))
	}
	want := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC).UnixMicro()
	if ev.VersionOf(obj) != want {
		t.Fatalf("version %d want %d", ev.VersionOf(obj), want)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	fsys := fstest.MapFS{
		"a_thing.schema.json": {Data: []byte(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "x-yiwang": {"table": "Things", "topic": "yiwang.other.v1", "key": ["nope"],
    "event_time": "t", "version_field": "t", "area_field": "t"},
  "required": ["t"],
  "properties": {
    "t": {"type": "integer"},
    "BadName": {"type": "string"}
  }
}`)},
		"broken.schema.json": {Data: []byte("{\n  \"a\": ,\n}")},
	}
	_, err := Load(fsys)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`a_thing.schema.json:3: x-yiwang.table must be a lowercase snake_case name, got "Things"`,
		`a_thing.schema.json:3: x-yiwang.topic must be yiwang.a_thing.v<major>, got "yiwang.other.v1"`,
		`a_thing.schema.json:8: property "BadName": names must be lowercase snake_case`,
		`x-yiwang.key names "nope", which is not a property`,
		`x-yiwang.event_time field "t" must be of type TIMESTAMPTZ`,
		`broken.schema.json:2: not valid JSON`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	reg, err := LoadEmbedded()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(validEvent))
	f.Add([]byte(`{"event_id":1}`))
	f.Add([]byte(`{"grid_code":"220173002001001","rework_count":1e400}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, s := range reg.All() {
			obj, err := Decode(raw)
			if err != nil {
				return
			}
			s.StripPII(obj)
			if s.Validate(obj, testAreas, now) != nil {
				continue
			}
			if _, err := s.Row(obj); err != nil {
				t.Fatalf("%s: validated record does not convert: %v", s.Name, err)
			}
			_ = s.KeyOf(obj)
			_ = s.VersionOf(obj)
		}
	})
}
