package simulate

import (
	"bytes"
	"cmp"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// checkOrder fails unless items are strictly ascending by (updated_at, id).
func checkOrder(t *testing.T, items []item) {
	t.Helper()
	for i := 1; i < len(items); i++ {
		a, b := items[i-1], items[i]
		if c := a.updatedAt.Compare(b.updatedAt); c > 0 || c == 0 && cmp.Compare(a.id, b.id) >= 0 {
			t.Fatalf("out of order: (%v, %s) then (%v, %s)", a.updatedAt, a.id, b.updatedAt, b.id)
		}
	}
}

func TestPaginationComplete(t *testing.T) {
	reg := registry(t)
	s := New(Config{Seed: 21, Scale: 0.003, InvalidShare: 0.1, Now: fixed(weekdayPeak())})
	s.Step(600)
	l := s.Ledger()
	for _, typ := range RecordTypes() {
		for _, limit := range []int{1, 7, 500, 5000} {
			t.Run(typ+"/"+itoa(limit), func(t *testing.T) {
				r := newReader(t, s, reg, typ, limit)
				items := r.drain()
				checkOrder(t, items)
				want := len(l.Valid[typ]) + len(l.Invalid[typ])
				if len(items) != want {
					t.Fatalf("read %d records, source holds %d", len(items), want)
				}
				if least := (want + limit - 1) / limit; r.requests < least || r.requests > least+1 {
					t.Errorf("%d requests for %d records at limit %d", r.requests, want, limit)
				}
				for _, it := range items {
					if v, ok := l.Valid[typ][it.id]; ok && !bytes.Equal(v.JSON, it.raw) {
						t.Errorf("%s: served %s, latest is %s", it.id, it.raw, v.JSON)
					}
				}
			})
		}
	}
}

func TestEqualTimestampsNotSkipped(t *testing.T) {
	reg := registry(t)
	s := New(Config{Seed: 2, Scale: 0.005, Now: fixed(weekdayPeak())})
	s.Step(0) // the initial load only: every household shares one updated_at
	r := newReader(t, s, reg, "household", 10)
	items := r.drain()
	if want := s.Counts()["household"].Valid; len(items) != want || want < 100 {
		t.Fatalf("read %d households, want %d (at least 100)", len(items), want)
	}
	for _, it := range items {
		if !it.updatedAt.Equal(items[0].updatedAt) {
			t.Fatalf("initial load has several timestamps: %v and %v", items[0].updatedAt, it.updatedAt)
		}
	}
	ts := items[0].updatedAt
	for _, tc := range []struct {
		name  string
		query url.Values
		first int // index into items of the first record returned, -1 none
	}{
		{"after the tenth id", url.Values{"updated_since": {ts.Format(time.RFC3339Nano)}, "after_id": {items[9].id}}, 10},
		{"same instant in +08:00", url.Values{"updated_since": {ts.In(time.FixedZone("", 8*3600)).Format(time.RFC3339Nano)}, "after_id": {items[9].id}}, 10},
		{"empty after_id", url.Values{"updated_since": {ts.Format(time.RFC3339Nano)}, "after_id": {""}}, 0},
		{"since alone", url.Values{"updated_since": {ts.Format(time.RFC3339Nano)}}, 0},
		{"one nanosecond earlier", url.Values{"updated_since": {ts.Add(-time.Nanosecond).Format(time.RFC3339Nano)}, "after_id": {"~"}}, 0},
		{"half a microsecond later", url.Values{"updated_since": {ts.Add(500 * time.Nanosecond).Format(time.RFC3339Nano)}}, -1},
		{"after the last id", url.Values{"updated_since": {ts.Format(time.RFC3339Nano)}, "after_id": {items[len(items)-1].id}}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := Path("household")
			tc.query.Set("limit", "1")
			rec := get(t, s.Handler(), path+"?"+tc.query.Encode(), nil)
			want := `{"data":[],"has_more":false}`
			if tc.first >= 0 {
				want = `{"data":[` + string(items[tc.first].raw) + `],"has_more":true}`
			}
			if got := rec.Body.String(); rec.Code != http.StatusOK || got != want {
				t.Fatalf("%d %s\nwant %s", rec.Code, got, want)
			}
		})
	}
}

// TestReadersMissNothing interleaves writes and reads: a reader resuming
// from its last (updated_at, id) must see every record at its latest
// version, updated records must come back with a later updated_at, and
// invalid records must never change.
func TestReadersMissNothing(t *testing.T) {
	reg := registry(t)
	for _, tc := range []struct {
		name  string
		clock func() func() time.Time
	}{
		{"fixed clock", func() func() time.Time { return fixed(weekdayPeak()) }},
		{"moving clock", func() func() time.Time {
			c := &clock{step: 1500 * time.Millisecond}
			c.now.Store(weekdayPeak().UnixNano())
			return c.Now
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{Seed: 8, Scale: 0.002, InvalidShare: 0.1, Now: tc.clock()})
			readers := map[string]*reader{}
			last := map[string]map[string]item{}
			for _, typ := range RecordTypes() {
				readers[typ] = newReader(t, s, reg, typ, 13)
				last[typ] = map[string]item{}
			}
			reappeared := 0
			for round := 0; round < 40; round++ {
				s.Step(60)
				for _, typ := range RecordTypes() {
					items := readers[typ].drain()
					checkOrder(t, items)
					for _, it := range items {
						if prev, ok := last[typ][it.id]; ok {
							reappeared++
							if !it.updatedAt.After(prev.updatedAt) {
								t.Fatalf("%s %s: version at %v after one at %v", typ, it.id, it.updatedAt, prev.updatedAt)
							}
						}
						last[typ][it.id] = it
					}
				}
			}
			if reappeared == 0 {
				t.Fatal("no record reappeared with a new version")
			}
			l := s.Ledger()
			for _, typ := range RecordTypes() {
				if got, want := len(last[typ]), len(l.Valid[typ])+len(l.Invalid[typ]); got != want {
					t.Errorf("%s: read %d records, source holds %d", typ, got, want)
				}
				for id, v := range l.Valid[typ] {
					if it := last[typ][id]; !bytes.Equal(it.raw, v.JSON) {
						t.Errorf("%s %s: last read %s, latest %s", typ, id, it.raw, v.JSON)
					}
				}
				for id := range l.Invalid[typ] {
					if n := s.tables[kindIndex(t, s, typ)].recs[id].ver; n != 1 {
						t.Errorf("%s: invalid record %s has %d versions", typ, id, n)
					}
				}
			}
		})
	}
}

func kindIndex(t *testing.T, s *Simulator, typ string) int {
	for i, k := range s.kinds {
		if k.name == typ {
			return i
		}
	}
	t.Fatalf("no kind %s", typ)
	return 0
}

func TestAuthAndFaults(t *testing.T) {
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	for _, tc := range []struct {
		name   string
		cfg    Config
		target string
		header http.Header
		codes  []int // one request per code, in order
	}{
		{"health needs no token", Config{Token: "s3cret"}, "/api/health", nil, []int{200}},
		{"no token", Config{Token: "s3cret"}, "/api/grid/grid_event", nil, []int{401}},
		{"wrong token", Config{Token: "s3cret"}, "/api/grid/grid_event", bearer("guess"), []int{401}},
		{"not bearer", Config{Token: "s3cret"}, "/api/grid/grid_event", http.Header{"Authorization": {"s3cret"}}, []int{401}},
		{"right token", Config{Token: "s3cret"}, "/api/grid/grid_event", bearer("s3cret"), []int{200}},
		{"no token configured", Config{}, "/api/market/store", nil, []int{200}},
		{"every third fails", Config{FailEvery: 3}, "/api/police/police_incident", nil, []int{200, 200, 503, 200, 200, 503}},
		{"fail every request", Config{FailEvery: 1}, "/api/property/work_order", nil, []int{503, 503}},
		{"health is not failed", Config{FailEvery: 1}, "/api/health", nil, []int{200, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Scale, tc.cfg.Now = 0.001, fixed(weekdayPeak())
			h := New(tc.cfg).Handler()
			for i, want := range tc.codes {
				rec := get(t, h, tc.target, tc.header)
				if rec.Code != want {
					t.Fatalf("request %d: %d %s, want %d", i+1, rec.Code, rec.Body, want)
				}
				switch want {
				case 401:
					if rec.Header().Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
				case 503:
					if got := rec.Header().Get("Retry-After"); got != "1" {
						t.Errorf("Retry-After = %q, want 1", got)
					}
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
					t.Errorf("Content-Type = %q", ct)
				}
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	h := New(Config{Scale: 0.001, Now: fixed(weekdayPeak())}).Handler()
	for _, tc := range []struct {
		name, target string
		code         int
	}{
		{"unknown record", "/api/grid/nothing", 404},
		{"wrong platform", "/api/police/grid_event", 404},
		{"unknown platform", "/api/city/grid_event", 404},
		{"limit zero", "/api/grid/grid_event?limit=0", 400},
		{"limit negative", "/api/grid/grid_event?limit=-5", 400},
		{"limit not a number", "/api/grid/grid_event?limit=ten", 400},
		{"limit above max is cut", "/api/grid/grid_event?limit=99999", 200},
		{"since not rfc 3339", "/api/grid/grid_event?updated_since=2026-13-45%2025:00", 400},
		{"since without zone", "/api/grid/grid_event?updated_since=2026-03-01T08:00:00", 400},
		{"after_id alone", "/api/grid/grid_event?after_id=GE1", 400},
		{"unknown parameter", "/api/grid/grid_event?update_since=2026-03-01T08:00:00Z", 400},
		{"repeated parameter", "/api/grid/grid_event?limit=1&limit=2", 400},
		{"malformed escape", "/api/grid/grid_event?limit=%zz", 400},
		{"post", "/api/grid/grid_event", 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tc.target, nil)
			if tc.name == "post" {
				req.Method = http.MethodPost
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.code)
			}
		})
	}
}

func TestParseCursorQuery(t *testing.T) {
	for _, tc := range []struct {
		raw   string
		limit int
		cur   cursor
	}{
		{"", DefaultLimit, start()},
		{"limit=7", 7, start()},
		{"limit=5001", MaxLimit, start()},
		{"updated_since=2026-03-01T08:00:00Z", DefaultLimit, cursor{ts: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).UnixMicro()}},
		{"updated_since=2026-03-01T16:00:00.000001%2B08:00&after_id=GE9", DefaultLimit, cursor{ts: time.Date(2026, 3, 1, 8, 0, 0, 1000, time.UTC).UnixMicro(), id: "GE9"}},
		{"updated_since=2026-03-01T08:00:00.0000015Z&after_id=GE9", DefaultLimit, cursor{ts: time.Date(2026, 3, 1, 8, 0, 0, 1000, time.UTC).UnixMicro(), id: "GE9", allAtTS: true}},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			q, err := parseCursorQuery(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if q.limit != tc.limit || q.cursor() != tc.cur {
				t.Fatalf("limit %d cursor %+v, want %d %+v", q.limit, q.cursor(), tc.limit, tc.cur)
			}
		})
	}
}

func FuzzCursorQuery(f *testing.F) {
	for _, seed := range []string{
		"",
		"limit=1",
		"limit=5000&updated_since=2026-03-01T08:00:00.123456Z&after_id=GE20260301000001",
		"updated_since=2026-03-01T16:00:00.1234567%2B08:00&after_id=X",
		"updated_since=2026-13-45%2025:00",
		"after_id=a&after_id=b",
		"limit=%zz",
		"updated_since=0000-01-01T00:00:00Z&after_id=",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseCursorQuery(raw)
		if err != nil {
			return
		}
		if q.limit < 1 || q.limit > MaxLimit {
			t.Fatalf("limit %d out of range", q.limit)
		}
		if q.afterID != "" && !q.hasSince {
			t.Fatal("after_id accepted without updated_since")
		}
		// The cursor survives a round trip through a query string.
		v := url.Values{"limit": {itoa(q.limit)}}
		if q.hasSince {
			v.Set("updated_since", q.since.Format(time.RFC3339Nano))
			v.Set("after_id", q.afterID)
		}
		q2, err := parseCursorQuery(v.Encode())
		if err != nil {
			t.Fatalf("re-encoded %q: %v", v.Encode(), err)
		}
		if q2.cursor() != q.cursor() || q2.limit != q.limit {
			t.Fatalf("round trip %+v -> %+v", q.cursor(), q2.cursor())
		}
	})
}

// TestConcurrentUse runs the generator while clients read and tests step;
// run it with -race.
func TestConcurrentUse(t *testing.T) {
	c := &clock{step: 100 * time.Millisecond}
	c.now.Store(weekdayPeak().UnixNano())
	s := New(Config{Seed: 6, Scale: 0.001, Rate: 50, InvalidShare: 0.05, Now: c.Now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	h := s.Handler()
	var wg sync.WaitGroup
	for _, typ := range []string{"grid_event", "work_order", "household"} {
		path, _ := Path(typ)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path+"?limit=50", nil))
				if rec.Code != http.StatusOK {
					t.Errorf("GET %s: %d", path, rec.Code)
					return
				}
				s.Step(5)
				_ = s.Ledger()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPage measures a page read deep into a large log, as a connector
// polling a source that has written for minutes at 10,000 records/s.
func BenchmarkPage(b *testing.B) {
	tb := newTable("grid_event", b.TempDir())
	raw := []byte(`{"event_id":"x"}`)
	const n = 2_000_000
	for i := 0; i < n; i++ {
		id := "GE" + itoa(i%1_000_000+1)
		if err := tb.put(id, int64(i/100), raw, ""); err != nil { // 100 records per microsecond, half of them updates
			b.Fatal(err)
		}
	}
	c := cursor{ts: n / 200, id: "GE5"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raws, _, _, err := tb.page(c, MaxLimit)
		if err != nil || len(raws) == 0 {
			b.Fatal("empty page", err)
		}
	}
}
