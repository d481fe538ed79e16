package api

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzStrictJSON: the body decoder never panics, refuses whatever is not
// one valid JSON value, and accepts only what encoding/json itself reads
// the same way, with no key twice.
func FuzzStrictJSON(f *testing.F) {
	for _, s := range []string{`{"sql":"select 1"}`, `{"sql":"a","sql":"b"}`, `{"sql":"a","SQL":"b"}`, `{"sql":"a"} x`,
		`{"sql":"a"}{"sql":"b"}`, `{"limit":5,"select":["a","b"]}`, `{"nested":{"a":1,"a":2}}`, `[`, `{"sql":`, ``, `null`,
		`{"select":[{"x":1},{"x":2}]}`, "{\"sql\":\"\\u0000\"}", `{"limit":1e400}`, `{"sql":"a","ſql":"b"}`, `{"limit":1,"\u212aey":2}`} {
		f.Add([]byte(s))
	}
	type body struct {
		SQL    string         `json:"sql"`
		Limit  int            `json:"limit"`
		Select []any          `json:"select"`
		Nested map[string]any `json:"nested"`
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v body
		err := strictJSON(b, &v)
		if !json.Valid(b) && err == nil {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if err != nil {
			return
		}
		var w body
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&w); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", b, err)
		}
		if dec.More() {
			t.Fatalf("accepted trailing data in %q", b)
		}
		x, _ := json.Marshal(v)
		y, _ := json.Marshal(w)
		if !bytes.Equal(x, y) {
			t.Fatalf("%q read as %s, encoding/json reads %s", b, x, y)
		}
	})
}

// FuzzCursor: a page cursor never panics the decoder, one it accepts has
// the kinds asked for (text, then a time, alternately) and encodes back to
// an equal key.
func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor([]any{"door_knock_coverage", "2026-11-01T00:00:00Z", "grid", "220173002001001"}), 4)
	f.Add("bogus", 1)
	f.Add(encodeCursor([]any{1.5, nil}), 2)
	f.Add(encodeCursor([]any{"a", "2026-11-01T00:00:00Z"}), 2)
	f.Add(encodeCursor([]any{"a", "not a time"}), 2)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 8 {
			return
		}
		kinds := make([]keyKind, n)
		for i := range kinds {
			kinds[i] = keyKind(i % 2)
		}
		key, err := decodeCursor(s, kinds...)
		if err != nil {
			return
		}
		if len(key) != n {
			t.Fatalf("%q: %d values, want %d", s, len(key), n)
		}
		for i, v := range key {
			text, ok := v.(string)
			if _, err := time.Parse(time.RFC3339Nano, text); !ok || kinds[i] == keyTime && err != nil {
				t.Fatalf("%q: value %d is %#v, want kind %d", s, i, v, kinds[i])
			}
		}
		again, err := decodeCursor(encodeCursor(key), kinds...)
		if err != nil {
			t.Fatalf("re-encoded cursor refused: %v", err)
		}
		a, _ := json.Marshal(key)
		b, _ := json.Marshal(again)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s became %s", a, b)
		}
	})
}
