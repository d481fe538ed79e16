package deliver

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/anomaly"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
)

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "d.duckdb"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := anomaly.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	return st.DB()
}

var week = time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC)

// flag records one run of a rule flagging subjects (and resolving the
// others).
func flag(t *testing.T, db *sql.DB, at time.Time, subjects ...string) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var flags []anomaly.Flag
	for _, s := range subjects {
		flags = append(flags, anomaly.Flag{Subject: s, Area: "220173002001", Observed: 5, Expected: 3, Detail: s + " closed 5 events within 10 minutes", Records: []string{"E1"}})
	}
	if _, err := anomaly.Apply(ctx, tx, anomaly.Run{Rule: "instant_closures", RecordTable: "grid_events", Severity: anomaly.SeverityWarning, Mode: "normal",
		PeriodStart: week, PeriodEnd: week.AddDate(0, 0, 7), RunID: "r", Now: at, Flags: flags}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// simClock is a clock whose sleeps pass at once.
type simClock struct{ now atomic.Int64 }

func (c *simClock) Now() time.Time { return time.Unix(0, c.now.Load()).UTC() }
func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now.Add(int64(d))
	time.Sleep(time.Millisecond) // let the others run
	return ctx.Err()
}

// receiver is a platform that dedupes by webhook-id: it is down until
// upAt, then answers 500 twice, then applies a change but answers after the
// sender stopped waiting, then works.
type receiver struct {
	t     *testing.T
	key   []byte
	clock *simClock
	upAt  time.Time

	mu       sync.Mutex
	requests int            // answered requests since it came up
	ids      []string       // webhook-id of every request it saw
	applied  map[string]int // times each change was applied
	types    []string
	badSigs  int
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, tsText := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	ts, _ := strconv.ParseInt(tsText, 10, 64)
	rv.mu.Lock()
	rv.requests++
	n := rv.requests
	rv.ids = append(rv.ids, id)
	if r.Header.Get("webhook-signature") != Sign(rv.key, id, ts, body) {
		rv.badSigs++
	}
	rv.mu.Unlock()
	if n <= 2 {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	rv.mu.Lock()
	if rv.applied[id] == 0 {
		var p struct{ Type string }
		_ = json.Unmarshal(body, &p)
		rv.types = append(rv.types, p.Type)
	}
	rv.applied[id]++ // the receiver's own count of what it saw
	rv.mu.Unlock()
	if n == 3 {
		time.Sleep(400 * time.Millisecond) // applied, but the answer is late
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rv *receiver) distinctApplied() (map[string]int, []string) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	out := map[string]int{}
	for k, v := range rv.applied {
		out[k] = v
	}
	return out, append([]string(nil), rv.types...)
}

// TestDeliveryThroughOutages: the receiver is down for an hour of
// simulated time, then answers 500 twice, then accepts a change but answers
// too late; every change still arrives, under one id each (a receiver
// deduplicating by webhook-id applies each once), signed; a restarted outbox
// goes on from where the receiver last accepted.
func TestDeliveryThroughOutages(t *testing.T) {
	db := openDB(t)
	clock := &simClock{}
	t0 := time.Date(2026, 3, 3, 1, 0, 0, 0, time.UTC)
	clock.now.Store(t0.UnixNano())
	flag(t, db, t0, "WGY1", "WGY2") // two opened
	flag(t, db, t0, "WGY1")         // WGY2 resolved

	key := []byte("0123456789abcdef0123456789abcdef")
	rv := &receiver{t: t, key: key, clock: clock, upAt: t0.Add(time.Hour), applied: map[string]int{}}
	srv := httptest.NewServer(rv)
	defer srv.Close()
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	wh, err := NewWebhook("platform", srv.URL, secret)
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	wh.Timeout, wh.Now = 150*time.Millisecond, clock.Now
	wh.Client = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if clock.Now().Before(rv.upAt) { // down: nothing listens
			refused.Add(1)
			return nil, errors.New("connect: connection refused")
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	m := metrics.New()
	run := func(want int) {
		t.Helper()
		o := &Outbox{DB: db, Receivers: []Receiver{wh}, Metrics: m, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Now: clock.Now, Sleep: clock.Sleep, Poll: time.Second}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- o.Run(ctx) }()
		deadline := time.Now().Add(60 * time.Second)
		for {
			applied, _ := rv.distinctApplied()
			if len(applied) >= want {
				break
			}
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("%d of %d changes applied", len(applied), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		var depth float64
		for range 500 { // the position is stored after the answer
			if depth = gauge(t, m, "platform"); depth == 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if depth != 0 {
			t.Fatalf("outbox depth %v after every change was applied", depth)
		}
	}
	run(3)
	if clock.Now().Sub(t0) < time.Hour || refused.Load() < 5 {
		t.Fatalf("the outage: %v of simulated time, %d refused connections", clock.Now().Sub(t0), refused.Load())
	}

	// Restarted, with two more changes: only those are sent.
	flag(t, db, t0.Add(2*time.Hour), "WGY1", "WGY2", "WGY3") // WGY2 opened again, WGY3 opened
	run(5)

	applied, types := rv.distinctApplied()
	for id, n := range applied {
		if n != 1 && n != 2 {
			t.Errorf("change %s seen %d times", id, n)
		}
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	// The change answered late was sent again under its id, and applied
	// once by the receiver's dedupe.
	if rv.ids[2] != rv.ids[3] || rv.applied[rv.ids[2]] != 2 {
		t.Errorf("requests %v: the late one was not sent again under the same id", rv.ids)
	}
	if rv.badSigs != 0 {
		t.Errorf("%d signatures did not verify", rv.badSigs)
	}
	want := []string{"anomaly.opened", "anomaly.opened", "anomaly.resolved", "anomaly.opened", "anomaly.opened"}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Errorf("types in order of first arrival %v, want %v", types, want)
	}
	if len(applied) != 5 {
		t.Errorf("%d distinct changes, want 5: %v", len(applied), applied)
	}
}

func gauge(t *testing.T, m *metrics.Metrics, receiver string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "yiwang_delivery_outbox_depth" {
			continue
		}
		for _, s := range mf.GetMetric() {
			return s.GetGauge().GetValue()
		}
	}
	return -1
}

// TestSignature: the signature of Standard Webhooks' own example.
func TestSignature(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature %s", got)
	}
	for _, bad := range []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!", "whsec_c2hvcnQ="} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
