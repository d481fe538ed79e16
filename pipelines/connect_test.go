package pipelines

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/kafka"
)

var assignedMetric = regexp.MustCompile(`(?m)^yiwang_connector_assigned\{source="([^"]+)"\} (\d)`)

// assigned reads yiwang_connector_assigned from a process's /metrics:
// source → 0 or 1; nil when it does not answer.
func assigned(addr string) map[string]int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]int{}
	for _, m := range assignedMetric.FindAllSubmatch(b, -1) {
		v, _ := strconv.Atoi(string(m[2]))
		out[string(m[1])] = v
	}
	return out
}

// TestSourcesRunInOneConnect: two connect processes share the sources,
// each source running in exactly one of them; when one is killed, the
// other runs them all; the ledger holds.
func TestSourcesRunInOneConnect(t *testing.T) {
	broker, err := kafka.StartBroker(kafka.BrokerConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	sim, srcURL, env := districtOn(t, broker.Addr())
	serveDir, dirA, dirB := t.TempDir(), t.TempDir(), t.TempDir()
	server := startRole(t, "serve", serveDir, broker.Addr(), srcURL, env).waitAddr(t, serveDir)
	a := startRole(t, "connect", dirA, broker.Addr(), srcURL, env)
	b := startRole(t, "connect", dirB, broker.Addr(), srcURL, env)
	addrA, addrB := a.waitAddr(t, dirA), b.waitAddr(t, dirB)

	// waitShared waits until every source runs in exactly one of addrs —
	// each of them running some, when the sources' partitions fall in both
	// halves that the group's ranges give two members — and returns how
	// many each runs.
	waitShared := func(addrs ...string) map[string]int {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			runs, per := map[string]int{}, map[string]int{}
			seen := 0
			for _, addr := range addrs {
				as := assigned(addr)
				seen = max(seen, len(as))
				for src, v := range as {
					runs[src] += v
					per[addr] += v
				}
			}
			ok := seen > 0
			halves := map[bool]bool{}
			for src, n := range runs {
				ok = ok && n == 1
				halves[sourcePartition(src) < connectPartitions/2] = true
			}
			for _, addr := range addrs {
				ok = ok && (per[addr] > 0 || len(halves) < len(addrs))
			}
			if ok {
				return per
			}
			if time.Now().After(deadline) {
				t.Fatalf("sources not each in one process after a minute: %v", runs)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	per := waitShared(addrA, addrB)
	t.Logf("sources per process: %v", per)
	for range 3 {
		sim.Step(300)
		time.Sleep(300 * time.Millisecond)
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = a.cmd.Process.Wait()
	sim.Step(300)
	if per := waitShared(addrB); per[addrB] == 0 {
		t.Fatalf("the survivor runs no source: %v", per)
	}
	sim.Step(300)
	waitLedger(t, sim, server, broker.Addr(), 120*time.Second)
}
