package deadletter_test

import (
	"strings"
	"testing"

	"github.com/yiwang-gov/yiwang/internal/deadletter"
	"github.com/yiwang-gov/yiwang/schemas"
)

// TestScrubKeepsLongCodes: ID and phone numbers are masked in every
// string and number of a dead letter, written however they were, while a
// longer code that merely contains one (an incident number) stays whole, so
// that a replay finds its record under its own key.
func TestScrubKeepsLongCodes(t *testing.T) {
	in := `{"jjdbh":"J3201062026030100017","a":"138 0013 8000","b":"+86-138-0013-8000","c":13800138000,"d":["220104195603150425"],` +
		`"e":{"f":"电话13800138000。"},"k":"t1:` + strings.Repeat("0", 20) + `13800138000` + strings.Repeat("a", 33) + `"}`
	got := string(deadletter.Scrub(nil, []byte(in), nil))
	for _, raw := range []string{"138 0013 8000", "138-0013-8000", "13800138000\"", ":13800138000", "220104195603150425"} {
		if strings.Contains(got, raw) {
			t.Errorf("%q left in %s", raw, got)
		}
	}
	for _, keep := range []string{`"jjdbh":"J3201062026030100017"`, `"k":"t1:` + strings.Repeat("0", 20) + `13800138000`} {
		if !strings.Contains(got, keep) {
			t.Errorf("%s changed: %s", keep, got)
		}
	}
}

// TestScrubBySchema: a dead letter masks only what the schema marks
// personal — hmac fields removed, scan text masked — and keeps the other
// schema fields as they are (a grid code shaped like a 15-digit old-style
// ID number stays whole), while unknown fields and text that is not JSON stay masked.
func TestScrubBySchema(t *testing.T) {
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	household, _ := reg.Get("household")
	event, _ := reg.Get("grid_event")
	cases := []struct {
		name      string
		sc        *schemas.Schema
		in        string
		want      []string // substrings the payload keeps
		forbidden []string
	}{
		{"plain fields kept", household, `{"household_id":"H1","grid_code":"220173001011009","room_code":"22017300200100012-02-0301","members_n":3}`,
			[]string{`"grid_code":"220173001011009"`, `"room_code":"22017300200100012-02-0301"`, `"members_n":3`}, nil},
		{"hmac fields removed", household, `{"household_id":"H1","head_id_number":"220104195603150425","head_phone":"13800138000"}`,
			[]string{`"household_id":"H1"`}, []string{"head_id_number", "head_phone", "0425", "8000"}},
		{"scan text masked", event, `{"event_id":"E1","grid_code":"220173001011009","description":"报警人13800138000，身份证220104195603150425"}`,
			[]string{`"grid_code":"220173001011009"`, "138****8000", "220***********0425"}, []string{"13800138000", "220104195603150425"}},
		{"unknown fields masked", household, `{"household_id":"H1","note":"13800138000","grid":"220173001011009"}`,
			[]string{`"household_id":"H1"`, "138****8000"}, []string{"13800138000", "220173001011009"}},
		{"not JSON masked", household, `{"household_id":"H1", 13800138000`, []string{"138****8000"}, []string{"13800138000"}},
		{"no schema: all masked", nil, `{"grid_code":"13800138000"}`, []string{"138****8000"}, []string{"13800138000"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := string(deadletter.Scrub(tc.sc, []byte(tc.in), nil))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q missing from %s", w, got)
				}
			}
			for _, f := range tc.forbidden {
				if strings.Contains(got, f) {
					t.Errorf("%q left in %s", f, got)
				}
			}
		})
	}
}
