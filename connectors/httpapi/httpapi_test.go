package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

type rec struct {
	ID        string `json:"event_id"`
	UpdatedAt string `json:"updated_at"`
}

// table serves records the way the simulated source systems and most
// platform APIs do: strictly after (updated_since, after_id), ordered.
func table(recs []rec) http.HandlerFunc {
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].UpdatedAt != recs[j].UpdatedAt {
			return recs[i].UpdatedAt < recs[j].UpdatedAt
		}
		return recs[i].ID < recs[j].ID
	})
	return func(w http.ResponseWriter, r *http.Request) {
		since, after := r.URL.Query().Get("updated_since"), r.URL.Query().Get("after_id")
		var limit int
		fmt.Sscan(r.URL.Query().Get("limit"), &limit)
		var out []rec
		more := false
		for _, x := range recs {
			if since != "" && (x.UpdatedAt < since || x.UpdatedAt == since && x.ID <= after) {
				continue
			}
			if len(out) == limit {
				more = true
				break
			}
			out = append(out, x)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": out, "has_more": more})
	}
}

func drain(t *testing.T, s *Source, cursor string) ([]string, string) {
	t.Helper()
	var ids []string
	for range 1000 {
		recs, more, err := s.Poll(context.Background(), cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			var x rec
			_ = json.Unmarshal(r.Raw, &x)
			ids = append(ids, x.ID)
			cursor = r.Cursor
		}
		if !more {
			return ids, cursor
		}
	}
	t.Fatal("no end")
	return nil, ""
}

func TestEqualTimestampsAcrossPagesAreNotSkipped(t *testing.T) {
	var recs []rec
	for i := range 25 { // 25 records share one timestamp, pages of 4
		recs = append(recs, rec{fmt.Sprintf("E%02d", i), "2026-11-26T00:00:00Z"})
	}
	recs = append(recs, rec{"A", "2026-11-26T00:00:01Z"})
	ts := httptest.NewServer(table(recs))
	defer ts.Close()
	s, err := New(Config{URL: ts.URL, PageSize: 4}, "event_id")
	if err != nil {
		t.Fatal(err)
	}
	ids, cursor := drain(t, s, "")
	if len(ids) != 26 {
		t.Fatalf("got %d records, want 26: %v", len(ids), ids)
	}
	more, _ := drain(t, s, cursor)
	if len(more) != 0 {
		t.Fatalf("polling from the last cursor returned %v", more)
	}
}

func TestRetriesHonourRetryAfterAndStopOn4xx(t *testing.T) {
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := calls.Add(1); {
		case r.Header.Get("Authorization") != "Bearer s3cret":
			w.WriteHeader(http.StatusUnauthorized)
		case n <= 2:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			table([]rec{{"E1", "2026-11-26T00:00:00Z"}})(w, r)
		}
	}))
	defer ts.Close()
	t.Setenv("TEST_TOKEN", "s3cret")
	s, err := New(Config{URL: ts.URL, TokenEnv: "TEST_TOKEN", BackoffMin: time.Millisecond, BackoffMax: 2 * time.Second}, "event_id")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	recs, _, err := s.Poll(context.Background(), "")
	if err != nil || len(recs) != 1 {
		t.Fatalf("recs %v err %v", recs, err)
	}
	if calls.Load() != 3 {
		t.Fatalf("calls = %d, want 3", calls.Load())
	}
	if time.Since(start) < 2*time.Second {
		t.Fatalf("Retry-After: 1 was not honoured twice (%v)", time.Since(start))
	}
	// A wrong token is a 401: no retry.
	t.Setenv("TEST_TOKEN", "wrong")
	s2, _ := New(Config{URL: ts.URL, TokenEnv: "TEST_TOKEN"}, "event_id")
	calls.Store(10)
	_, _, err = s2.Poll(context.Background(), "")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 401 || calls.Load() != 11 {
		t.Fatalf("err %v calls %d: want one 401", err, calls.Load())
	}
}

func TestMissingTokenVariableIsRefused(t *testing.T) {
	if _, err := New(Config{URL: "http://x", TokenEnv: "YIWANG_TEST_SURELY_UNSET"}, "id"); err == nil {
		t.Fatal("want an error")
	}
}

func TestMalformedRecordKeepsCursor(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"data":[{"event_id":"E1","updated_at":"2026-11-26T00:00:00Z"},{"event_id":"E2","updated_at":"garbage"},"not an object"],"has_more":false}`))
	}))
	defer ts.Close()
	s, _ := New(Config{URL: ts.URL}, "event_id")
	recs, _, err := s.Poll(context.Background(), "")
	if err != nil || len(recs) != 3 {
		t.Fatalf("%v %v", recs, err)
	}
	if recs[1].Cursor != recs[0].Cursor || recs[2].Cursor != recs[0].Cursor {
		t.Fatalf("cursor moved on malformed records: %q %q %q", recs[0].Cursor, recs[1].Cursor, recs[2].Cursor)
	}
}

func TestValidate(t *testing.T) {
	c := Config{URL: "ftp://x", PageSize: -1, BackoffMin: time.Minute, BackoffMax: time.Second}
	if got := len(c.Validate()); got != 3 {
		t.Fatalf("got %d problems: %v", got, c.Validate())
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "-1": 0, "x": 0,
		"Thu, 26 Nov 2026 00:00:10 GMT": 10 * time.Second,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add(`{"t":"2026-11-26T00:00:00Z","id":"E1"}`)
	f.Add(``)
	f.Add(`{"t":"x"}`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			return
		}
		back, err := ParseCursor(c.String())
		if err != nil || back != c {
			t.Fatalf("round trip of %q: %+v → %q → %+v, %v", s, c, c.String(), back, err)
		}
	})
}

// TestRecordedPage reads a page as a platform serves it (testdata) and
// checks the cursors: two records share a timestamp and keep their order.
func TestRecordedPage(t *testing.T) {
	page, err := os.ReadFile("testdata/page.json")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(page) }))
	defer ts.Close()
	s, _ := New(Config{URL: ts.URL}, "event_id")
	recs, more, err := s.Poll(context.Background(), "")
	if err != nil || more || len(recs) != 3 {
		t.Fatalf("%d records, more %v, err %v", len(recs), more, err)
	}
	want := []Cursor{{"2026-11-26T08:00:00Z", "GE20261126000041"}, {"2026-11-26T08:00:31Z", "GE20261126000042"}, {"2026-11-26T08:00:31Z", "GE20261126000043"}}
	for i, r := range recs {
		if c, _ := ParseCursor(r.Cursor); c != want[i] {
			t.Errorf("record %d cursor %+v, want %+v", i, c, want[i])
		}
	}
}
