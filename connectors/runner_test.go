package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/schemas"
)

type areas map[string]bool

func (a areas) Known(c string) bool { return a[c] }

// pages serves fixed pages by cursor: the cursor is the index of the next
// record.
type pages struct {
	recs     []string
	size     int
	mu       sync.Mutex
	outcomes []string // "position ok" or "position reason"
}

func (p *pages) Outcome(rec Record, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var re *schemas.RecordError
	switch {
	case err == nil:
		p.outcomes = append(p.outcomes, rec.Position+" ok")
	case errors.As(err, &re):
		p.outcomes = append(p.outcomes, rec.Position+" "+re.Reason)
	default:
		p.outcomes = append(p.outcomes, rec.Position+" ?")
	}
}

func (p *pages) Poll(_ context.Context, cursor string) ([]Record, bool, error) {
	from := 0
	if cursor != "" {
		_ = json.Unmarshal([]byte(cursor), &from)
	}
	var out []Record
	running := cursor
	for i := from; i < len(p.recs) && len(out) < p.size; i++ {
		if !strings.Contains(p.recs[i], "NOCURSOR") { // a record without a position keeps the cursor
			c, _ := json.Marshal(i + 1)
			running = string(c)
		}
		out = append(out, Record{Raw: []byte(p.recs[i]), Cursor: running, Position: "test#" + running})
	}
	more := from+len(out) < len(p.recs)
	return out, more, nil
}

type producer struct {
	mu     sync.Mutex
	msgs   []kafka.Message
	failN  int // fail this many writes first
	writes int
}

func (p *producer) Write(_ context.Context, msgs ...kafka.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writes++
	if p.failN > 0 {
		p.failN--
		return errors.New("broker down")
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *producer) byTopic(t string) []kafka.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []kafka.Message
	for _, m := range p.msgs {
		if m.Topic == t {
			out = append(out, m)
		}
	}
	return out
}

const hh = `{"household_id":"%s","grid_code":"220173002001001","room_code":"22017300200100012-02-0301","resident_type":"registered","members_n":3,"head_id_number":"220104195603150425","head_phone":"13800138000","updated_at":"2026-11-26T08:00:00Z"}`

func TestRunnerDeliversStripsAndDeadLetters(t *testing.T) {
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := reg.Get("household")
	src := &pages{size: 2, recs: []string{
		strings.Replace(hh, "%s", "H1", 1),
		strings.Replace(hh, "%s", "H2", 1),
		// Invalid: a bad grid code; its payload still carries personal data.
		strings.Replace(strings.Replace(hh, "%s", "H3", 1), "220173002001001", "2201730020010", 1),
		strings.Replace(hh, "%s", "H4", 1),
		// Malformed, with an ID number and a phone in the text, and last:
		// the next polls return it again at the same cursor.
		`{"household_id":"H5", 220104195603150425 13800138000 NOCURSOR`,
	}}
	prod := &producer{failN: 2}
	st := &State{producer: prod, cursors: map[string]string{}}
	m := metrics.New()
	key, err := pii.NewKey([]byte(strings.Repeat("k", 32)), "v7")
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Name: "grid.household", Schema: sc, Source: src, Every: 10 * time.Millisecond, Producer: prod, State: st, Key: key,
		Areas: areas{"220173002001": true}, Metrics: m, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	for len(prod.byTopic(sc.Topic)) < 3 || st.Get("grid.household") != "4" {
		if ctx.Err() != nil {
			t.Fatalf("timeout: %d records, cursor %q", len(prod.byTopic(sc.Topic)), st.Get("grid.household"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // several empty polls
	cancel()
	<-done

	recs := prod.byTopic(sc.Topic)
	if len(recs) != 3 {
		t.Fatalf("%d records produced, want 3 (the two failed writes must be retried, not skipped)", len(recs))
	}
	dead := prod.byTopic(DeadLetterTopic)
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want 2 (the malformed record at an unchanged cursor only once)", len(dead))
	}
	for _, msg := range append(recs, dead...) {
		for _, raw := range []string{"220104195603150425", "13800138000"} {
			if strings.Contains(string(msg.Value), raw) || strings.Contains(string(msg.Key), raw) {
				t.Fatalf("raw personal data on %s: %s", msg.Topic, msg.Value)
			}
			for _, h := range msg.Headers {
				if strings.Contains(string(h.Value), raw) {
					t.Fatalf("raw personal data in header %s", h.Key)
				}
			}
		}
	}
	if string(recs[0].Key) != "H1" {
		t.Fatalf("key %s, want the natural key", recs[0].Key)
	}
	var first map[string]any
	if err := json.Unmarshal(recs[0].Value, &first); err != nil {
		t.Fatal(err)
	}
	want := "v7:" + key.Pseudonym(pii.KindResidentID, "220104195603150425")
	if first["head_id_number_key"] != want || first["head_id_number_masked"] != "220***********0425" ||
		first["head_id_number_birth_year"] != float64(1956) || first["head_id_number_gender"] != "F" ||
		first["head_phone_masked"] != "138****8000" {
		t.Fatalf("protected fields wrong: %v", first)
	}
	if _, err := sc.Load(recs[0].Value, areas{"220173002001": true}, time.Now()); err != nil {
		t.Fatalf("the produced record is not valid in the topic form: %v", err)
	}
	if dead[0].Header(HeaderCode) != schemas.ReasonAreaCode || dead[0].Header(HeaderField) != "grid_code" || dead[0].Header(HeaderPosition) == "" {
		t.Fatalf("dead letter headers %v", dead[0].Headers)
	}
	if !strings.Contains(string(dead[1].Value), "220***********0425") || !strings.Contains(string(dead[1].Value), "138****8000") {
		t.Fatalf("malformed payload not masked: %s", dead[1].Value)
	}
	src.mu.Lock()
	got := strings.Join(src.outcomes, ", ")
	src.mu.Unlock()
	if got != "test#1 ok, test#2 ok, test#3 bad_area_code, test#4 ok, test#4 malformed_json" {
		t.Fatalf("outcomes reported to the source: %s", got)
	}
	if got := testutil.ToFloat64(m.ConnectorPolls.WithLabelValues("grid.household", "ok")); got < 4 {
		t.Fatalf("%v ok polls: empty polls must count as heartbeats", got)
	}
	if testutil.ToFloat64(m.ConnectorLastPoll.WithLabelValues("grid.household")) == 0 {
		t.Fatal("no heartbeat timestamp")
	}
}
