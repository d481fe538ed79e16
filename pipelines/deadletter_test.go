package pipelines

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/kafka"
)

// TestReplayAfterReferenceFix: a record whose community is not yet in the
// areas table is dead-lettered; once the reference data has it (a restart
// with the new file), replaying the dead letters loads it.
func TestReplayAfterReferenceFix(t *testing.T) {
	dir := t.TempDir()
	kdir := t.TempDir()
	addr := freePort(t)
	broker, err := kafka.StartBroker(kafka.BrokerConfig{Listen: addr, DataDir: kdir, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	noSources := func(extraAreas string) func(*Config) {
		return func(c *Config) {
			c.Sources = nil
			c.Kafka.Brokers = []string{addr}
			if extraAreas != "" {
				c.Reference.Areas = extraAreas
			}
		}
	}
	p := startPipeline(t, "http://127.0.0.1:1", dir, "127.0.0.1:0", "tok", noSources(""))
	const ev = `{"event_id":"NEWCOMM-1","source":"resident","category_major":"01","urgency":"normal","grid_code":"220173002099001","status":"reported","reported_at":"2026-11-26T08:00:00+08:00","updated_at":"2026-11-26T08:00:00+08:00"}`
	w := kafka.NewWriter([]string{addr}, kafka.WriterOptions{})
	defer w.Close()
	if err := w.Write(context.Background(), kafka.Message{Topic: "yiwang.grid_event.v1", Key: []byte("NEWCOMM-1"), Value: []byte(ev)}); err != nil {
		t.Fatal(err)
	}
	var list struct {
		DeadLetters []struct{ Reason, Stage string }
		Counts      map[string]map[string]int
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(list.DeadLetters) == 0 && time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.server + "/api/v1/deadletters?reason=unknown_area")
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		time.Sleep(200 * time.Millisecond)
	}
	if len(list.DeadLetters) != 1 || list.DeadLetters[0].Stage != "loader" || list.Counts["kafka:yiwang.grid_event.v1"]["unknown_area"] != 1 {
		t.Fatalf("dead letters: %+v", list)
	}
	// Replaying before the fix changes nothing.
	if r := replay(t, p.server); r.Replayed != 0 || r.StillInvalid["unknown_area"] != 1 {
		t.Fatalf("replay before the fix: %+v", r)
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	// The fix: the new community and its grid join the reference data.
	raw, _ := embedded.ReadFile("newarea/areas.csv")
	raw = append(raw, []byte("220173002099,新建社区,community,220173002\n220173002099001,新建社区第1网格,grid,220173002099\n")...)
	fixed := filepath.Join(t.TempDir(), "areas.csv")
	if err := os.WriteFile(fixed, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	p = startPipeline(t, "http://127.0.0.1:1", dir, "127.0.0.1:0", "tok", noSources(fixed))
	if r := replay(t, p.server); r.Replayed != 1 {
		t.Fatalf("replay after the fix: %+v", r)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		rows := query(t, p.server, "SELECT count(*) FROM grid_events WHERE event_id = 'NEWCOMM-1'")
		if rows[0][0].(float64) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replayed record was not loaded")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type replayResult struct {
	Replayed     int
	StillInvalid map[string]int `json:"still_invalid"`
}

func replay(t *testing.T, server string) replayResult {
	t.Helper()
	return replayBody(t, server, `{"reason":"unknown_area"}`)
}

// TestReplayAfterMappingFix: a police record whose label the mapping does
// not know yet is dead-lettered in the platform's own shape; after the
// mapping learns the label (a restart with the fixed pipeline file),
// replaying maps it again and loads it.
func TestReplayAfterMappingFix(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	broker, err := kafka.StartBroker(kafka.BrokerConfig{Listen: addr, DataDir: t.TempDir(), Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	policeOnly := func(forget string) func(*Config) {
		return func(c *Config) {
			c.Kafka.Brokers = []string{addr}
			var keep []SourceConfig
			for _, s := range c.Sources {
				if s.Type == "kafkain" {
					if forget != "" {
						delete(s.Map.Fields["call_type"].Values, forget)
					}
					keep = append(keep, s)
				}
			}
			c.Sources = keep
		}
	}
	client := kafka.NewClient([]string{addr})
	defer client.Close()
	if err := client.EnsureTopics(context.Background(), []kafka.Topic{{Name: "jz.jqxx", Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	p := startPipeline(t, "http://127.0.0.1:1", dir, "127.0.0.1:0", "tok", policeOnly("求助"))
	const rec = `{"jjdbh":"PI-REPLAY-1","bjsj":"2026-11-26 10:00:00","jqxz":"求助","jqlb":"求助类","sfyx":"是","pcsdm":"PS2201730021","fsdd":{"wgbm":"220173002001001"},"gxsj":"2026-11-26 10:05:00.000000"}`
	w := kafka.NewWriter([]string{addr}, kafka.WriterOptions{})
	defer w.Close()
	if err := w.Write(context.Background(), kafka.Message{Topic: "jz.jqxx", Key: []byte("PI-REPLAY-1"), Value: []byte(rec)}); err != nil {
		t.Fatal(err)
	}
	var list struct {
		DeadLetters []struct{ Reason, Stage, Shape, Field string }
	}
	for deadline := time.Now().Add(30 * time.Second); len(list.DeadLetters) == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the record with an unknown label was not dead-lettered")
		}
		getJSON(t, "http://"+p.server+"/api/v1/deadletters?source=police.incident", &list)
	}
	if d := list.DeadLetters[0]; d.Reason != "mapping" || d.Stage != "connector" || d.Shape != "platform" || d.Field != "call_type" {
		t.Fatalf("dead letter: %+v", d)
	}
	body := `{"source":"police.incident"}`
	if r := replayBody(t, p.server, body); r.Replayed != 0 || r.StillInvalid["mapping"] != 1 {
		t.Fatalf("replay before the fix: %+v", r)
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	p = startPipeline(t, "http://127.0.0.1:1", dir, "127.0.0.1:0", "tok", policeOnly(""))
	if r := replayBody(t, p.server, body); r.Replayed != 1 {
		t.Fatalf("replay after the fix: %+v", r)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		rows := query(t, p.server, "SELECT call_type, category_l1, strftime(received_at AT TIME ZONE 'Asia/Shanghai', '%H:%M') FROM police_incidents WHERE incident_id = 'PI-REPLAY-1'")
		if len(rows) == 1 {
			if fmt.Sprint(rows[0]) != "[assistance assistance 10:00]" {
				t.Fatalf("loaded as %v", rows[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replayed record was not loaded")
		}
	}
}

func replayBody(t *testing.T, server, body string) replayResult {
	t.Helper()
	resp, err := http.Post("http://"+server+"/api/v1/deadletters/replay", "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r replayResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("replay: HTTP %d %v", resp.StatusCode, err)
	}
	return r
}
