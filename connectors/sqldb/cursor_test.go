package sqldb

import (
	"testing"
	"time"
	"unicode/utf8"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Cursor
		want string
	}{
		{"microseconds kept", Cursor{time.Date(2026, 11, 26, 8, 0, 0, 123456000, time.UTC), "WO1"}, `{"ts":"2026-11-26T08:00:00.123456Z","id":"WO1"}`},
		{"whole seconds still carry six digits", Cursor{time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC), "7"}, `{"ts":"2026-11-26T08:00:00.000000Z","id":"7"}`},
		{"another zone is written in UTC", Cursor{time.Date(2026, 11, 26, 16, 0, 0, 1000, time.FixedZone("CST", 8*3600)), "幸福里-3"}, `{"ts":"2026-11-26T08:00:00.000001Z","id":"幸福里-3"}`},
		{"quotes and markup in the id", Cursor{time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), `a"b<c>&`}, `{"ts":"0001-01-01T00:00:00.000001Z","id":"a\"b<c>&"}`},
		{"zero is the beginning", Cursor{}, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.c.String()
			if s != tc.want {
				t.Fatalf("String() = %s, want %s", s, tc.want)
			}
			back, err := ParseCursor(s)
			if err != nil || !back.Time.Equal(tc.c.Time) || back.ID != tc.c.ID {
				t.Fatalf("ParseCursor(%s) = %+v, %v", s, back, err)
			}
		})
	}
}

func TestParseCursorRefuses(t *testing.T) {
	for _, s := range []string{
		`{"ts":"2026-11-26T08:00:00.123456789Z","id":"x"}`, // finer than PostgreSQL keeps
		`{"ts":"2026-11-26 08:00:00Z","id":"x"}`,
		`{"ts":"2026-11-26T08:00:00Z"}`,
		`{"id":"x"}`,
		`{"ts":"2026-11-26T08:00:00Z","id":7}`,
		`{"ts":"2026-11-26T08:00:00Z","id":"x","extra":1}`,
		`{"ts":"2026-11-26T08:00:00Z","id":"x"} {}`,
		`{"ts":"0000-12-31T23:00:00Z","id":"x"}`,
		`{"t":"2026-11-26T08:00:00Z","id":"x"}`, // the httpapi connector's form
		`null`,
	} {
		if c, err := ParseCursor(s); err == nil {
			t.Errorf("ParseCursor(%s) = %+v, want an error", s, c)
		}
	}
}

// FuzzCursor: any string either fails to parse or parses to a cursor whose
// encoding parses back to it and is its own fixed point; any instant of
// years 1-9999 at microsecond precision with a UTF-8 id survives the trip.
func FuzzCursor(f *testing.F) {
	f.Add(`{"ts":"2026-11-26T08:00:00.123456Z","id":"WO1"}`, int64(1795000000123456), "WO1")
	f.Add(`{"ts":"2026-11-26T16:00:00.000001+08:00","id":"幸福里"}`, int64(-62135596800000000), "")
	f.Add(`{"ts":"9999-12-31T23:59:59.999999Z","id":"\u0000"}`, int64(253402300799999999), "\u2028")
	f.Add(``, int64(0), `"`)
	f.Fuzz(func(t *testing.T, s string, micros int64, id string) {
		if c, err := ParseCursor(s); err == nil {
			enc := c.String()
			back, err := ParseCursor(enc)
			if err != nil {
				t.Fatalf("ParseCursor(%q) = %v for the encoding of %q", enc, err, s)
			}
			if !back.Time.Equal(c.Time) || back.ID != c.ID || back.String() != enc {
				t.Fatalf("%q → %+v → %q → %+v", s, c, enc, back)
			}
		}
		c := Cursor{Time: time.UnixMicro(micros).UTC(), ID: id}
		if c.valid() != nil || !utf8.ValidString(id) {
			return
		}
		back, err := ParseCursor(c.String())
		if err != nil || !back.Time.Equal(c.Time) || back.ID != c.ID {
			t.Fatalf("%+v → %q → %+v, %v", c, c.String(), back, err)
		}
	})
}
