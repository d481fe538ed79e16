package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/metrics"
)

// startAlertmanager runs Debian's prometheus-alertmanager on a free port
// with one route to a receiver that sends nothing, and returns its URL.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		bin, err = exec.LookPath("alertmanager")
	}
	if err != nil {
		t.Fatal("prometheus-alertmanager is not installed; run scripts/install-test-deps (make test does)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: nowhere\n  group_wait: 1s\nreceivers:\n  - name: nowhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager did not start: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type amState struct {
	Labels map[string]string
	Annots map[string]string `json:"annotations"`
	Status struct{ State string }
	EndsAt time.Time
}

func activeAlerts(t *testing.T, url string) []amState {
	t.Helper()
	resp, err := http.Get(url + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []amState
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	var active []amState
	for _, a := range out {
		if a.Labels["alertname"] == "yiwang_anomaly" && a.Status.State == "active" {
			active = append(active, a)
		}
	}
	return active
}

// TestAlertmanagerReceivesAnomalies: an opened anomaly arrives in a real
// Alertmanager as an active alert with its labels and figures; its
// resolution ends the alert.
func TestAlertmanagerReceivesAnomalies(t *testing.T) {
	url := startAlertmanager(t)
	db := openDB(t)
	now := time.Now().UTC().Truncate(time.Second)
	flag(t, db, now.Add(-time.Minute), "WGY1", "WGY2") // both open

	am := &Alertmanager{Receiver: "am", URL: url, GeneratorURL: "http://127.0.0.1:8080"}
	m := metrics.New()
	deliverAll := func() {
		t.Helper()
		o := &Outbox{DB: db, Receivers: []Receiver{am}, Metrics: m, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		n, err := o.deliver(context.Background(), am)
		if err != nil || n == 0 {
			t.Fatalf("delivered %d: %v", n, err)
		}
	}
	deliverAll()
	wait := func(want string) []amState {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			active := activeAlerts(t, url)
			var subjects []string
			for _, a := range active {
				subjects = append(subjects, a.Labels["subject"])
			}
			slices.Sort(subjects)
			if fmt.Sprint(subjects) == want {
				return active
			}
			if time.Now().After(deadline) {
				t.Fatalf("active alerts for %v, want %s", subjects, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	active := wait("[WGY1 WGY2]")
	a := active[0]
	if a.Labels["rule"] != "instant_closures" || a.Labels["severity"] != "warning" || a.Labels["area_code"] != "220173002001" ||
		a.Annots["observed"] != "5" || a.Annots["expected"] != "3" || !strings.Contains(a.Annots["description"], "closed 5 events") {
		t.Fatalf("alert %+v", a)
	}

	flag(t, db, now, "WGY1") // WGY2 resolved
	deliverAll()
	wait("[WGY1]")
}
