package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `yiwang bench anomalies` on a small district's five weeks: it loads the
// history through the demo pipeline, keeps it, judges a copy, reports
// every detector and pattern with the peer's figures and the speed, and
// writes the judged flags; --reuse judges the kept history again to the
// same figures.
func TestBenchAnomaliesSmall(t *testing.T) {
	dir := t.TempDir()
	keep, flags := filepath.Join(dir, "kept"), filepath.Join(dir, "flags.csv")
	args := []string{"bench", "anomalies", "--days", "28", "--warmup", "7", "--scale", "0.01", "--rate", "0.02", "--rounds", "1", "--dir", dir}
	out, err := run(t, append(args, "--keep", keep, "--flags", flags)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"police_incidents_daily.poisson", "event_ontime_closure_rate.funnel", "repeat_building",
		"incident_spike", "lagging_place", "peer: z-score", "a scheduled round", "planted anomalies judged"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the report:\n%s", want, out)
		}
	}
	raw, err := os.ReadFile(flags)
	if err != nil || !strings.HasPrefix(string(raw), "rule,subject,period_start,observed,expected,plant\n") {
		t.Fatalf("flags file: %v %.200s", err, raw)
	}
	table := func(s string) string { // the precision and recall, without the timings
		s = s[strings.Index(s, "\n  detector "):]
		return s[:strings.Index(s, "speed over")]
	}
	again, err := run(t, append(args, "--reuse", keep)...)
	if err != nil {
		t.Fatalf("--reuse: %v\n%s", err, again)
	}
	if table(again) != table(out) {
		t.Errorf("the kept history judged again differs:\n%s\n--- first\n%s", table(again), table(out))
	}
}
