package metrics

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

const rules = "../../deploy/prometheus/yiwang-rules.yml"

// TestAlertRules runs the shipped alert rules' unit tests with promtool.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed; run scripts/install-test-deps (make test does)")
	}
	for _, args := range [][]string{{"check", "rules", rules}, {"test", "rules", "../../deploy/prometheus/yiwang-rules.test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// TestRulesNameRealMetrics: every yiwang_ metric an alert rule reads is one
// this package exports, so a rename cannot silently disarm an alert.
func TestRulesNameRealMetrics(t *testing.T) {
	raw, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	// Touch every vector once so that Gather lists it.
	m.ConnectorRecords.WithLabelValues("s", "produced")
	m.ConnectorPolls.WithLabelValues("s", "ok")
	m.ConnectorLastPoll.WithLabelValues("s")
	m.ConnectorLastProduce.WithLabelValues("s")
	m.SourceNewestEvent.WithLabelValues("s")
	m.LoaderRecords.WithLabelValues("t", "loaded")
	m.LoaderBatches.WithLabelValues("committed")
	m.LoaderLag.WithLabelValues("t", "0")
	m.TableNewestEvent.WithLabelValues("t")
	m.DeadLetters.WithLabelValues("connector", "s", "x", "r")
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	used := regexp.MustCompile(`yiwang_[a-z_]+`).FindAllString(string(raw), -1)
	if len(used) == 0 {
		t.Fatal("no metrics found in the rules")
	}
	for _, name := range used {
		if !have[name] {
			t.Errorf("%s reads %s, which yiwang does not export", rules, name)
		}
	}
}
