package pipelines

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestKcatInterop: kcat (librdkafka) produces valid, invalid and malformed
// records into a record topic of the embedded broker; the loader loads or
// dead-letters them; kcat consumes the dead-letter topic.
func TestKcatInterop(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed; run scripts/install-test-deps (make test does)")
	}
	p := startPipeline(t, "http://127.0.0.1:1", t.TempDir(), "127.0.0.1:0", "tok", func(c *Config) { c.Sources = nil })
	lines := strings.Join([]string{
		`KC-1|{"event_id":"KC-1","source":"resident","category_major":"01","urgency":"normal","grid_code":"220173002001001","status":"reported","reported_at":"2026-11-26T08:00:00+08:00","updated_at":"2026-11-26T08:00:00+08:00"}`,
		`KC-1|{"event_id":"KC-1","source":"resident","category_major":"01","urgency":"normal","grid_code":"220173002001001","status":"closed","reported_at":"2026-11-26T08:00:00+08:00","updated_at":"2026-11-26T09:00:00+08:00"}`,
		`KC-2|{"event_id":"KC-2","source":"resident","category_major":"01","urgency":"normal","grid_code":"22017300200100","status":"reported","reported_at":"2026-11-26T08:00:00+08:00","updated_at":"2026-11-26T08:00:00+08:00"}`,
		`KC-3|{"event_id":"KC-3", this is not json`,
	}, "\n") + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", p.broker, "-P", "-t", "yiwang.grid_event.v1", "-K", "|")
	cmd.Stdin = strings.NewReader(lines)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows := query(t, p.server, "SELECT status FROM grid_events WHERE event_id = 'KC-1'")
		if len(rows) == 1 && rows[0][0] == "closed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("KC-1 not loaded at its latest version: %v", rows)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var out []byte
	for {
		cmd = exec.CommandContext(ctx, kcat, "-b", p.broker, "-C", "-t", "yiwang.deadletter.v1", "-o", "beginning", "-e", "-q",
			"-f", "%h\t%s\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err = cmd.Output()
		if err != nil {
			t.Fatalf("kcat consume: %v\n%s", err, stderr.String())
		}
		if strings.Count(string(out), "\n") >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := string(out)
	for _, want := range []string{
		"yiwang.error.code=bad_area_code", "yiwang.error.field=grid_code", `"event_id":"KC-2"`,
		"yiwang.error.code=malformed_json", "KC-3", "yiwang.stage=loader", "yiwang.original.position=kafka:yiwang.grid_event.v1/",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("dead letters lack %q:\n%s", want, got)
		}
	}
}
