package schemas

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var fastSeeds = []string{
	validEvent,
	`{"event_id":"E2","source":"hotline_12345","category_major":"02","category_minor":"11","urgency":"urgent","description":"楼道\"堵塞\"\n","lon":125.3,"lat":43.8,"grid_code":"220173002001001","reporter_role":null,"status":"closed","reported_at":"2026-11-26T08:00:00.123456Z","closed_at":"2026-11-26T09:00:00+08:00","deferred":false,"rework_count":2,"satisfaction":"satisfied","updated_at":"2026-11-26T09:00:00.5+08:00"}`,
	`{"household_id":"H1","grid_code":"220173002001001","room_code":"22017300200100012-02-0301","resident_type":"registered","occupancy":"owner","members_n":3,"needs_attention":true,"tags":["elderly_alone","x_y"],"head_id_number_key":"1:` + strings.Repeat("ab", 32) + `","head_id_number_masked":"220***********0425","head_id_number_birth_year":1956,"head_id_number_gender":"F","head_phone_key":null,"updated_at":"2026-11-26T08:00:00Z"}`,
	`{"store_id":"S1","usci":"92220104MA17XK9H6H","signboard":"小吃","store_category":"catering","grid_code":"220173002001001","area_m2":35.5,"staff_n":2,"features":[],"last_fire_check_on":"2026-10-01","updated_at":"2026-11-26T08:00:00Z"}`,
	`{"record_id":"T1","team_type":"volunteer","team_id":"V9","area_code":"220173002","work_date":"2026-11-26","hours":2.5,"task_type":"patrol","recorded_at":"2026-11-26T08:00:00Z","updated_at":"2026-11-26T08:00:00Z"}`,
	`{"usci":"91350100M000100Y43","name":"公司","entity_type":"enterprise","reg_status":"active","established_on":"2001-02-03","industry_code":"F5211","grid_code":"220173002001001","abnormal_list":null,"updated_at":"2026-11-26T08:00:00Z"}`,
}

func TestFastPathCompiledAndTaken(t *testing.T) {
	reg, err := LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range reg.All() {
		if s.fast == nil {
			t.Errorf("%s: no fast path; every record would take the full validator", s.Name)
		}
	}
	taken := 0
	for _, raw := range fastSeeds {
		for _, s := range reg.All() {
			if l, ok := s.fast.load([]byte(raw), testAreas, now); ok {
				taken++
				if err := sameAsFull(s, []byte(raw), l); err != nil {
					t.Errorf("%s: %v", s.Name, err)
				}
			}
		}
	}
	if taken != len(fastSeeds) {
		t.Fatalf("fast path taken for %d of %d valid seeds", taken, len(fastSeeds))
	}
}

// sameAsFull checks a fast-path result against the full validator.
func sameAsFull(s *Schema, raw []byte, l Loaded) error {
	obj, err := Decode(raw)
	if err != nil {
		return fmt.Errorf("fast path accepted what does not decode: %v", err)
	}
	if err := s.ValidateTopic(obj, testAreas, now); err != nil {
		return fmt.Errorf("fast path accepted what the validator refuses: %v", err)
	}
	row, err := s.Row(obj)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(norm(row), norm(l.Row)) {
		return fmt.Errorf("rows differ:\nfast %#v\nfull %#v", l.Row, row)
	}
	if l.Key != s.KeyOf(obj) || l.Version != s.VersionOf(obj) || !l.EventTime.Equal(s.EventTimeOf(obj)) {
		return fmt.Errorf("key/version/event time differ: %q %d %v vs %q %d %v", l.Key, l.Version, l.EventTime,
			s.KeyOf(obj), s.VersionOf(obj), s.EventTimeOf(obj))
	}
	return nil
}

func norm(row []any) []any {
	out := make([]any, len(row))
	for i, v := range row {
		if t, ok := v.(time.Time); ok {
			out[i] = t.UTC().Format(time.RFC3339Nano)
		} else {
			out[i] = v
		}
	}
	return out
}

func TestTopicFormRefusesPersonalDataInClear(t *testing.T) {
	reg, _ := LoadEmbedded()
	h, _ := reg.Get("household")
	raw := strings.Replace(fastSeeds[2], `"updated_at"`, `"head_id_number":"220104195603150425","updated_at"`, 1)
	_, err := h.Load([]byte(raw), testAreas, now)
	var re *RecordError
	if !errors.As(err, &re) || re.Reason != ReasonSchema {
		t.Fatalf("err = %v, want a schema violation", err)
	}
	if strings.Contains(err.Error(), "220104195603150425") {
		t.Fatal("the error echoes the number")
	}
	if _, err := h.Load([]byte(strings.Replace(fastSeeds[2], `"1:`, `"1:zz`, 1)), testAreas, now); err == nil {
		t.Fatal("a malformed pseudonym was accepted")
	}
}

func TestFastPathRefusesWhatValidatorRefuses(t *testing.T) {
	reg, _ := LoadEmbedded()
	ev, _ := reg.Get("grid_event")
	for _, raw := range []string{
		strings.Replace(validEvent, `"normal"`, `"soon"`, 1),
		strings.Replace(validEvent, `"E1"`, `"E1","extra":1`, 1),
		strings.Replace(validEvent, `"E1"`, `"E1","event_id":"E2"`, 1),
		strings.Replace(validEvent, `2026-11-26T08:00:00+08:00"}`, `2026-11-26T08:00:60+08:00"}`, 1),
		strings.Replace(validEvent, `"01"`, `"1"`, 1),
		strings.Replace(validEvent, `"reported",`, `"reported","rework_count":1.5,`, 1),
		strings.Replace(validEvent, `"reported",`, `"reported","lon":180.0000000000000001,`, 1),
		validEvent + "x",
	} {
		if _, ok := ev.fast.load([]byte(raw), testAreas, now); ok {
			obj, err := Decode([]byte(raw))
			if err == nil {
				err = ev.Validate(obj, testAreas, now)
			}
			if err != nil {
				t.Errorf("fast path accepted %s (validator: %v)", raw, err)
			}
		}
	}
}

// FuzzFastAgreesWithValidator: whatever the fast path accepts, the full
// JSON Schema validator accepts too, with the same row, key and version.
func FuzzFastAgreesWithValidator(f *testing.F) {
	reg, err := LoadEmbedded()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, s := range reg.All() {
			l, ok := s.fast.load(raw, testAreas, now)
			if !ok {
				continue
			}
			if err := sameAsFull(s, raw, l); err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
		}
	})
}
