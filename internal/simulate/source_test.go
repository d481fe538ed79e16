package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/schemas"
)

// weekdayPeak is a Tuesday at 10:00 in Asia/Shanghai.
func weekdayPeak() time.Time { return local(2026, 3, 3, 10, 0) }

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

func registry(t *testing.T) *schemas.Registry {
	t.Helper()
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// item is one record of a response.
type item struct {
	id        string
	updatedAt time.Time
	raw       json.RawMessage
}

type pageBody struct {
	Data    []json.RawMessage `json:"data"`
	HasMore bool              `json:"has_more"`
}

func get(t *testing.T, h http.Handler, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// keyOf returns the id field of a record type.
func keyOf(t *testing.T, reg *schemas.Registry, typ string) string {
	t.Helper()
	sc, ok := reg.Get(typ)
	if !ok {
		t.Fatalf("no schema %s", typ)
	}
	return sc.Key[0]
}

// reader pages through one endpoint, keeping the cursor between calls.
type reader struct {
	t        *testing.T
	h        http.Handler
	path     string
	key      string
	limit    int
	since    string
	after    string
	last     item // the cursor, parsed
	requests int
}

func newReader(t *testing.T, s *Simulator, reg *schemas.Registry, typ string, limit int) *reader {
	path, ok := Path(typ)
	if !ok {
		t.Fatalf("no path for %s", typ)
	}
	return &reader{t: t, h: s.Handler(), path: path, key: keyOf(t, reg, typ), limit: limit}
}

// drain reads pages until has_more is false and returns the records read.
func (r *reader) drain() []item {
	r.t.Helper()
	var out []item
	for {
		items, more := r.next()
		out = append(out, items...)
		if !more {
			return out
		}
		if len(items) == 0 || r.requests > 100000 {
			r.t.Fatalf("%s: has_more after %d records in %d requests", r.path, len(out), r.requests)
		}
	}
}

// next reads one page from the cursor and advances it.
func (r *reader) next() ([]item, bool) {
	r.t.Helper()
	target := r.path + "?limit=" + itoa(r.limit)
	if r.since != "" {
		target += "&updated_since=" + r.since + "&after_id=" + r.after
	}
	rec := get(r.t, r.h, target, nil)
	r.requests++
	if rec.Code != http.StatusOK {
		r.t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	var p pageBody
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		r.t.Fatalf("GET %s: %v", target, err)
	}
	if len(p.Data) > r.limit {
		r.t.Fatalf("GET %s: %d records, limit %d", target, len(p.Data), r.limit)
	}
	var out []item
	for _, raw := range p.Data {
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			r.t.Fatal(err)
		}
		id, _ := obj[r.key].(string)
		ts, err := time.Parse(time.RFC3339Nano, obj["updated_at"].(string))
		if err != nil {
			r.t.Fatalf("%s: updated_at: %v", id, err)
		}
		if r.last.updatedAt.After(ts) || r.last.updatedAt.Equal(ts) && r.last.id >= id {
			r.t.Fatalf("%s: (%v, %s) served after the cursor (%v, %s)", r.path, ts, id, r.last.updatedAt, r.last.id)
		}
		r.last = item{id: id, updatedAt: ts}
		out = append(out, item{id: id, updatedAt: ts, raw: raw})
		r.since, r.after = url.QueryEscape(obj["updated_at"].(string)), url.QueryEscape(id)
	}
	return out, p.HasMore
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// dump returns every record of every type, in API order.
func dump(t *testing.T, s *Simulator) map[string][]byte {
	out := map[string][]byte{}
	for _, typ := range RecordTypes() {
		path, _ := Path(typ)
		out[typ] = get(t, s.Handler(), path+"?limit=5000", nil).Body.Bytes()
	}
	return out
}

func TestFirstRecordsDeterministic(t *testing.T) {
	run := func(seed int64) map[string][]byte {
		s := New(Config{Seed: seed, Scale: 0.005, InvalidShare: 0.1, Now: fixed(weekdayPeak())})
		s.Step(400)
		return dump(t, s)
	}
	base := run(11)
	for _, tc := range []struct {
		name string
		seed int64
		same bool
	}{
		{"same seed", 11, true},
		{"other seed", 12, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(tc.seed)
			for _, typ := range RecordTypes() {
				if eq := bytes.Equal(got[typ], base[typ]); eq != tc.same {
					t.Errorf("%s: identical = %v, want %v", typ, eq, tc.same)
				}
			}
		})
	}
}

// expectedReasons maps an invalid-record label to the validator's reasons.
func expectedReasons(label string) []string {
	switch label {
	case InvalidGridCode:
		return []string{schemas.ReasonAreaCode, schemas.ReasonUnknownArea}
	case InvalidUSCIChecksum:
		return []string{schemas.ReasonChecksum}
	}
	return []string{schemas.ReasonSchema}
}

func TestRecordsAgainstSchemas(t *testing.T) {
	reg := registry(t)
	for _, tc := range []struct {
		name string
		now  time.Time
	}{
		{"weekday peak", weekdayPeak()},
		{"night", local(2026, 3, 3, 2, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{Seed: 5, Scale: 0.005, InvalidShare: 0.2, Now: fixed(tc.now)})
			s.Step(2500)
			l := s.Ledger()
			labels := map[string]int{}
			for _, typ := range RecordTypes() {
				sc, _ := reg.Get(typ)
				for id, v := range l.Valid[typ] {
					obj, err := v.Record()
					if err != nil {
						t.Fatal(err)
					}
					if err := sc.Validate(obj, s.District(), tc.now); err != nil {
						t.Errorf("%s %s: %v\n%s", typ, id, err, v.JSON)
					}
					if strings.HasPrefix(id, "X") || strings.HasPrefix(id, "Y") {
						t.Errorf("%s: valid id %s in the invalid range", typ, id)
					}
				}
				for id, label := range l.Invalid[typ] {
					labels[label]++
					if !strings.HasPrefix(id, "X") && !strings.HasPrefix(id, "Y1") {
						t.Errorf("%s: invalid id %s outside the invalid range", typ, id)
					}
					raw := recordJSON(t, s, typ, id)
					obj, err := schemas.Decode(raw)
					if err != nil {
						t.Fatal(err)
					}
					err = sc.Validate(obj, s.District(), tc.now)
					var re *schemas.RecordError
					if !errors.As(err, &re) {
						t.Errorf("%s %s (%s) passed validation: %s", typ, id, label, raw)
						continue
					}
					if !contains(expectedReasons(label), re.Reason) {
						t.Errorf("%s %s (%s) failed as %v", typ, id, label, err)
					}
				}
			}
			for _, label := range InvalidReasons() {
				if labels[label] == 0 {
					t.Errorf("no invalid record labelled %s", label)
				}
			}
		})
	}
}

// recordJSON returns the stored JSON of any record, valid or not.
func recordJSON(t *testing.T, s *Simulator, typ, id string) []byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tb := range s.tables {
		if tb.name == typ {
			raw, err := tb.raw(tb.recs[id])
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}
	}
	t.Fatalf("no table %s", typ)
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func TestInvalidShare(t *testing.T) {
	for _, tc := range []struct {
		share    float64
		min, max float64
	}{
		{0, 0, 0},
		{0.1, 0.07, 0.13},
		{1, 1, 1},
	} {
		s := New(Config{Seed: 2, Scale: 0.01, InvalidShare: tc.share, Now: fixed(weekdayPeak())})
		s.Step(1000)
		valid, invalid := 0, 0
		for _, c := range s.Counts() {
			valid += c.Valid
			invalid += c.Invalid
		}
		if got := float64(invalid) / float64(valid+invalid); got < tc.min || got > tc.max {
			t.Errorf("InvalidShare %v: share of invalid records %.3f, want %v-%v", tc.share, got, tc.min, tc.max)
		}
	}
}

func TestLedgerContent(t *testing.T) {
	now := weekdayPeak()
	s := New(Config{Seed: 9, Scale: 0.02, Now: fixed(now)})
	s.Step(3000)
	l := s.Ledger()
	share := func(typ string, f func(obj map[string]any) bool) float64 {
		n, hit := 0, 0
		for _, v := range l.Valid[typ] {
			obj, err := v.Record()
			if err != nil {
				t.Fatal(err)
			}
			n++
			if f(obj) {
				hit++
			}
		}
		if n == 0 {
			t.Fatalf("no %s records", typ)
		}
		return float64(hit) / float64(n)
	}
	set := func(field string) func(map[string]any) bool {
		return func(obj map[string]any) bool { return obj[field] != nil }
	}
	entity := func(obj map[string]any) bool {
		u, _ := obj["usci"].(string)
		_, ok := l.Valid["market_entity"][u]
		return ok
	}
	for _, tc := range []struct {
		name     string
		typ      string
		f        func(map[string]any) bool
		min, max float64
	}{
		{"household head id", "household", set("head_id_number"), 0.7, 1},
		{"household phone", "household", set("head_phone"), 0.7, 1},
		{"store phone", "store", set("contact_phone"), 0.7, 1},
		{"work order phone", "work_order", set("reporter_phone"), 0.7, 1},
		{"team member id", "team_record", set("member_id_number"), 0.7, 1},
		{"store with a ledger entity", "store", entity, 0.2, 0.4},
		{"store without licence", "store", func(o map[string]any) bool { return o["usci"] == nil }, 0.05, 0.25},
		{"inspection of a ledger entity", "market_inspection", entity, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := share(tc.typ, tc.f); got < tc.min || got > tc.max {
				t.Fatalf("share %.3f, want %v-%v", got, tc.min, tc.max)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	// Ten days of history: long enough for callbacks a day or two after
	// closure.
	s := New(Config{Seed: 4, Scale: 0.002, Now: fixed(weekdayPeak()), History: 240 * time.Hour, HistoryRate: 0.02})
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(done); err != nil {
		t.Fatal(err)
	}
	l := s.Ledger()
	for _, tc := range []struct {
		typ, status string
		stages      []string
		times       []string // must not decrease
	}{
		{"grid_event", "status", []string{"reported", "dispatched", "handled", "closed", "evaluated"}, []string{"reported_at", "dispatched_at", "handled_at", "closed_at"}},
		{"work_order", "status", []string{"created", "assigned", "arrived", "completed", "called_back"}, []string{"created_at", "assigned_at", "arrived_at", "completed_at"}},
		{"police_incident", "", nil, []string{"received_at", "arrived_at", "closed_at"}},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			seen := map[string]bool{}
			updated := 0
			for id, v := range l.Valid[tc.typ] {
				obj, _ := v.Record()
				if tc.status != "" {
					seen[obj[tc.status].(string)] = true
				}
				if v.N > 1 {
					updated++
				}
				prev := ""
				for _, f := range append(tc.times, "updated_at") {
					x, _ := obj[f].(string)
					if x == "" {
						continue
					}
					if x < prev {
						t.Errorf("%s %s: %s %s before %s", tc.typ, id, f, x, prev)
					}
					prev = x
				}
			}
			for _, st := range tc.stages {
				if !seen[st] {
					t.Errorf("no %s reached %s (saw %v)", tc.typ, st, seen)
				}
			}
			if updated == 0 {
				t.Errorf("no %s has a second version", tc.typ)
			}
		})
	}
}

// clock is a fake clock that advances by step at every reading.
type clock struct {
	now  atomic.Int64
	step time.Duration
}

func (c *clock) Now() time.Time { return time.Unix(0, c.now.Add(int64(c.step))) }

func TestRun(t *testing.T) {
	c := &clock{step: 5 * time.Second}
	c.now.Store(weekdayPeak().UnixNano())
	s := New(Config{Seed: 1, Scale: 0.002, Rate: 20, Now: c.Now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := s.Counts()["grid_event"]
		if got.Valid > 0 && got.Versions > got.Valid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no grid event lifecycle after 5 s: %+v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if got := s.Counts()["household"].Valid; got == 0 {
		t.Error("Run did not load the households")
	}
}

func TestRunRateZeroLoadsOnly(t *testing.T) {
	c := &clock{step: time.Second}
	c.now.Store(weekdayPeak().UnixNano())
	s := New(Config{Seed: 1, Scale: 0.002, Now: c.Now})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	for typ, c := range s.Counts() {
		ledger := typ == "household" || typ == "store" || typ == "market_entity" || typ == "team" || typ == "team_member"
		if ledger != (c.Versions > 0) {
			t.Errorf("%s: %d versions after a rate-0 run", typ, c.Versions)
		}
	}
}

// streamRecords counts the new stream records (not versions) generated in
// n one-second ticks from start at the given peak rate.
func streamRecords(start time.Time, n int, rate float64) int {
	s := New(Config{Seed: 3, Scale: 0.001, Rate: rate, Now: fixed(start)})
	s.mu.Lock()
	s.ensureLoaded()
	for i := 0; i <= n; i++ {
		s.tick(start.Add(time.Duration(i) * time.Second))
	}
	s.mu.Unlock()
	total := 0
	for typ, c := range s.Counts() {
		if typ != "household" && typ != "store" && typ != "market_entity" && typ != "team" && typ != "team_member" {
			total += c.Valid + c.Invalid
		}
	}
	return total
}

func TestRateFollowsRhythm(t *testing.T) {
	const rate, secs = 40.0, 120
	workday := streamRecords(local(2026, 3, 3, 10, 0), secs, rate)
	if want := rate * secs; float64(workday) < 0.9*want || float64(workday) > 1.1*want {
		t.Fatalf("workday peak: %d records in %d s, want about %.0f", workday, secs, want)
	}
	for _, tc := range []struct {
		name     string
		start    time.Time
		min, max float64 // relative to the workday peak
	}{
		{"night", local(2026, 3, 3, 3, 0), 0, 0.1},
		{"ordinary saturday", local(2026, 3, 7, 10, 0), 0.35, 0.55},
		{"national day holiday", local(2026, 10, 2, 10, 0), 0.2, 0.4},
		{"make-up saturday", local(2026, 2, 28, 10, 0), 0.9, 1.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := float64(streamRecords(tc.start, secs, rate)) / float64(workday)
			if got < tc.min || got > tc.max {
				t.Fatalf("%.2f of the workday rate, want %v-%v", got, tc.min, tc.max)
			}
		})
	}
}

// BenchmarkStep measures stream generation; Run needs well over 10,000
// operations per second.
func BenchmarkStep(b *testing.B) {
	s := New(Config{Seed: 1, Scale: 0.001, InvalidShare: 0.02, Now: fixed(weekdayPeak())})
	s.Step(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Step(1000)
	}
}

// TestHistoryHoldsEveryRecordType: a simulator started at night after a
// weekend still serves every record type, from its history.
func TestHistoryHoldsEveryRecordType(t *testing.T) {
	monday3am := time.Date(2026, 11, 23, 3, 0, 0, 0, time.FixedZone("CST", 8*3600))
	s := New(Config{Seed: 7, Scale: 0.01, Rate: 100, History: 96 * time.Hour, HistoryRate: 0.5, Now: func() time.Time { return monday3am }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run does the history, then stops at once
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	l := s.Ledger()
	for _, name := range RecordTypes() {
		if len(l.Valid[name]) == 0 {
			t.Errorf("no %s records after the history", name)
		}
	}
	// History timestamps lie in the past, and versions still increase.
	for name, recs := range l.Valid {
		for id, v := range recs {
			if v.UpdatedAt.After(monday3am) || v.UpdatedAt.Before(monday3am.Add(-96*time.Hour)) {
				t.Fatalf("%s %s updated at %v, outside the history", name, id, v.UpdatedAt)
			}
		}
	}
}
