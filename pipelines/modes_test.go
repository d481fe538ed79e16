package pipelines

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestEmergencySwitch: switching an area to emergency starts the emergency
// schedules within the mode poll — visible in /metrics and in the run ids —
// and switching back stops them; both changes are recorded.
func TestEmergencySwitch(t *testing.T) {
	p := startPipeline(t, "http://127.0.0.1:1", t.TempDir(), "127.0.0.1:0", "tok", func(c *Config) { c.Sources = nil })
	set := func(mode string) {
		t.Helper()
		resp, err := http.Post("http://"+p.server+"/api/v1/modes", "application/json",
			bytes.NewReader([]byte(`{"area":"220173002","mode":"`+mode+`","reason":"flood drill"}`)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("set %s: HTTP %d %s", mode, resp.StatusCode, b)
		}
	}
	metrics := func() string {
		resp, err := http.Get("http://" + p.server + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			m := metrics()
			if ok(m) {
				return
			}
			if time.Now().After(deadline) {
				var errs []string
				for _, l := range strings.Split(p.logs.String(), "\n") {
					if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
						errs = append(errs, l)
					}
				}
				t.Fatalf("no %s within a minute; the pipeline's warnings and errors:\n%s", what, strings.Join(errs, "\n"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	emergencySchedule := regexp.MustCompile(`yiwang_query_schedule\{cron="[^"]+",mode="emergency",query="event_ontime_closure_rate"\} 1`)
	emergencyRun := regexp.MustCompile(`yiwang_query_last_run_timestamp_seconds\{query="event_ontime_closure_rate",run_id="event_ontime_closure_rate/emergency/`)
	if emergencySchedule.MatchString(metrics()) {
		t.Fatal("emergency schedule in force before any switch")
	}
	start := time.Now()
	set("emergency")
	waitFor("emergency schedule", func(m string) bool {
		return emergencySchedule.MatchString(m) && emergencyRun.MatchString(m) &&
			strings.Contains(m, `yiwang_area_mode{area="220173002",mode="emergency"} 1`)
	})
	t.Logf("emergency schedules in force and run after %v", time.Since(start).Round(time.Millisecond))
	set("normal")
	waitFor("the normal schedule back", func(m string) bool {
		return !emergencySchedule.MatchString(m) && strings.Contains(m, `yiwang_area_mode{area="220173002",mode="normal"} 1`)
	})
	rows := query(t, p.server, "SELECT mode, reason FROM area_mode_changes WHERE area_code = '220173002' ORDER BY changed_at")
	if len(rows) != 2 || rows[0][0] != "emergency" || rows[1][0] != "normal" || rows[0][1] != "flood drill" {
		t.Fatalf("recorded changes: %v", rows)
	}
	// An unknown area is refused.
	resp, err := http.Post("http://"+p.server+"/api/v1/modes", "application/json", bytes.NewReader([]byte(`{"area":"999999999","mode":"emergency"}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("unknown area: HTTP %d", resp.StatusCode)
	}
}
