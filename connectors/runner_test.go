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

	"github.com/yiwang-gov/yiwang/internal/deadletter"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/yiwang-gov/yiwang/connectors/mapping"
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
	dead := prod.byTopic(deadletter.Topic)
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
	if dead[0].Header(deadletter.HeaderCode) != schemas.ReasonAreaCode || dead[0].Header(deadletter.HeaderField) != "grid_code" || dead[0].Header(deadletter.HeaderPosition) == "" {
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

// TestRunnerMapsAndScrubsPlatformShape runs records of a platform's own
// shape through a mapping: the good one is produced in the schema's topic
// form, and the refused ones — by the mapping, by validation after it, and
// as malformed JSON — are dead-lettered in the platform's shape without
// any raw ID or phone number: the full-width ID the mapping feeds into the
// personal field is removed, and the numbers under an odd free-text field
// are masked.
func TestRunnerMapsAndScrubsPlatformShape(t *testing.T) {
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := reg.Get("household")
	m, errs := mapping.Compile(mapping.Config{
		Fields: map[string]mapping.Field{
			"household_id":   {Path: "hbh"},
			"grid_code":      {Path: "wgbm"},
			"room_code":      {Path: "fwbm"},
			"resident_type":  {Path: "rklx", Values: map[string]any{"户籍": "registered", "流动": "migrant"}},
			"members_n":      {Path: "rs", Type: "integer"},
			"head_id_number": {Path: "hz.zjhm", Optional: true},
			"head_phone":     {Path: "hz.lxdh", Optional: true},
			"updated_at":     {Path: "gxsj", Time: []string{"2006-01-02 15:04:05"}, Timezone: "Asia/Shanghai"},
		},
	}, sc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	const fullWidthID = "２２０１０４１９５６０３１５０４２５"
	rec := `{"hbh":"%s","wgbm":"220173002001001","fwbm":"22017300200100012-02-0301","rklx":"%s","rs":"３",` +
		`"hz":{"zjhm":"` + fullWidthID + `","lxdh":"138 0013 8000"},"bz":"户主身份证220104195603150425 电话13800138000","gxsj":"2026-03-01 10:00:00"}`
	src := &pages{size: 10, recs: []string{
		strings.NewReplacer("%s", "H1").Replace(strings.Replace(rec, `"rklx":"%s"`, `"rklx":"户籍"`, 1)),
		// Refused by the mapping; its grid code looks like an old 15-digit
		// ID number, which a non-personal field's value is not masked for.
		strings.NewReplacer("%s", "H2", "220173002001001", "220173001011009").Replace(strings.Replace(rec, `"rklx":"%s"`, `"rklx":"暂住"`, 1)),
		strings.NewReplacer("%s", "H3").Replace(strings.Replace(strings.Replace(rec, `"rklx":"%s"`, `"rklx":"流动"`, 1), "220173002001001", "2201730020010", 1)),
		`{"hbh":"H4", "bz":"220104195603150425 13800138000"`,
	}}
	prod := &producer{}
	st := &State{producer: prod, cursors: map[string]string{}}
	key, err := pii.NewKey([]byte(strings.Repeat("k", 32)), "v7")
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Name: "grid.household", Schema: sc, Source: src, Map: m, Every: 10 * time.Millisecond, Producer: prod, State: st, Key: key,
		Areas: areas{"220173002001": true}, Metrics: metrics.New(), Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	for st.Get("grid.household") != "4" {
		if ctx.Err() != nil {
			t.Fatal("timeout")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done

	recs, dead := prod.byTopic(sc.Topic), prod.byTopic(deadletter.Topic)
	if len(recs) != 1 || len(dead) != 3 {
		t.Fatalf("%d records and %d dead letters, want 1 and 3", len(recs), len(dead))
	}
	for _, msg := range append(recs, dead...) {
		for _, raw := range []string{"220104195603150425", fullWidthID, "13800138000", "138 0013 8000"} {
			if strings.Contains(string(msg.Value), raw) {
				t.Fatalf("raw personal data on %s: %s", msg.Topic, msg.Value)
			}
			for _, h := range msg.Headers {
				if strings.Contains(string(h.Value), raw) {
					t.Fatalf("raw personal data in header %s: %s", h.Key, h.Value)
				}
			}
		}
	}
	var first map[string]any
	if err := json.Unmarshal(recs[0].Value, &first); err != nil {
		t.Fatal(err)
	}
	if first["household_id"] != "H1" || first["members_n"] != float64(3) || first["updated_at"] != "2026-03-01T02:00:00Z" ||
		first["head_id_number_key"] != "v7:"+key.Pseudonym(pii.KindResidentID, "220104195603150425") || first["head_phone_masked"] != "138****8000" {
		t.Fatalf("mapped record %s", recs[0].Value)
	}
	want := []struct{ code, field, msg string }{
		{mapping.ReasonMapping, "resident_type", `rklx: "暂住" is not a known label (known: 户籍, 流动)`},
		{schemas.ReasonAreaCode, "grid_code", ""},
		{schemas.ReasonMalformed, "", ""},
	}
	for i, w := range want {
		d := dead[i]
		if d.Header(deadletter.HeaderCode) != w.code || d.Header(deadletter.HeaderField) != w.field || (w.msg != "" && d.Header(deadletter.HeaderMessage) != w.msg) {
			t.Fatalf("dead letter %d: %s %s %q", i, d.Header(deadletter.HeaderCode), d.Header(deadletter.HeaderField), d.Header(deadletter.HeaderMessage))
		}
		if d.Header(deadletter.HeaderPayloadShape) != "platform" {
			t.Fatalf("dead letter %d lacks the payload shape header", i)
		}
	}
	// The payload is the platform's record as the mapping reads it, so
	// that the clerk can find it and a replay can map it again: the fields
	// the mapping reads, not the ones feeding personal fields (hz.zjhm,
	// hz.lxdh), nor the free-text remark it does not read (bz).
	if got := string(dead[0].Value); got != `{"fwbm":"22017300200100012-02-0301","gxsj":"2026-03-01 10:00:00","hbh":"H2","rklx":"暂住","rs":"３","wgbm":"220173001011009"}` {
		t.Fatalf("payload of the mapping refusal: %s", got)
	}
	// Not JSON: kept as text, its numbers masked.
	if got := string(dead[2].Value); got != `{"hbh":"H4", "bz":"220***********0425 138****8000"` {
		t.Fatalf("payload of the malformed record: %s", got)
	}
}
