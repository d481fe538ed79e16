package pipelines

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

var leaderMetric = regexp.MustCompile(`(?m)^yiwang_leader (\d)`)

// leading reads yiwang_leader from a server's /metrics: 1, 0, or -1 when
// the server does not answer.
func leading(addr string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := leaderMetric.FindSubmatch(b)
	if m == nil {
		return -1
	}
	return int(m[1][0] - '0')
}

// TestReplicasConverge runs two serve replicas, each with its own DuckDB
// file, over one log fed by one connect process: their tables end the same
// (per-table digests), a mode switch through either one reaches both, and
// exactly one of them leads — also after the leader is killed.
func TestReplicasConverge(t *testing.T) {
	broker, err := kafka.StartBroker(kafka.BrokerConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	sim, srcURL, env := districtOn(t, broker.Addr())
	start := func(role, dir string) *child { return startRole(t, role, dir, broker.Addr(), srcURL, env) }
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := start("serve", dirA), start("serve", dirB)
	start("connect", t.TempDir())
	addrA, addrB := a.waitAddr(t, dirA), b.waitAddr(t, dirB)
	for range 4 {
		sim.Step(300)
		time.Sleep(300 * time.Millisecond)
	}
	waitLedger(t, sim, addrA, broker.Addr(), 120*time.Second)
	waitLedger(t, sim, addrB, broker.Addr(), 120*time.Second)

	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range reg.All() {
		da := query(t, addrA, store.DigestSQL(sc.Table))[0]
		db := query(t, addrB, store.DigestSQL(sc.Table))[0]
		if fmt.Sprint(da) != fmt.Sprint(db) {
			t.Errorf("%s: replica A %v, replica B %v", sc.Table, da, db)
		}
	}

	switchMode := func(addr, area, mode string) {
		t.Helper()
		resp, err := http.Post("http://"+addr+"/api/v1/modes", "application/json",
			bytes.NewReader([]byte(`{"area":"`+area+`","mode":"`+mode+`","reason":"flood drill"}`)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("switch %s to %s through %s: HTTP %d %s", area, mode, addr, resp.StatusCode, body)
		}
	}
	modesOf := func(addr string) string {
		return fmt.Sprint(query(t, addr, "SELECT area_code, mode, changed_at, reason FROM area_modes ORDER BY 1"))
	}
	waitSame := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for modesOf(addrA) != modesOf(addrB) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: replica A's modes %s, replica B's %s", what, modesOf(addrA), modesOf(addrB))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	switchMode(addrA, "220173002", "emergency")
	waitSame("after a switch through A")
	switchMode(addrB, "220173002001", "emergency")
	switchMode(addrB, "220173002", "normal")
	waitSame("after two switches through B")
	if m := modesOf(addrA); !strings.Contains(m, "220173002 normal") || !strings.Contains(m, "220173002001 emergency") {
		t.Fatalf("modes after the switches: %s", m)
	}

	// Exactly one leader, also once the leader is gone.
	oneLeader := func(addrs ...string) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			var leaders []string
			for _, addr := range addrs {
				if leading(addr) == 1 {
					leaders = append(leaders, addr)
				}
			}
			if len(leaders) == 1 {
				return leaders[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("leaders among %v: %v", addrs, leaders)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	leader := oneLeader(addrA, addrB)
	victim, survivor := a, addrB
	if leader == addrB {
		victim, survivor = b, addrA
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = victim.cmd.Process.Wait()
	killed := time.Now()
	if got := oneLeader(survivor); got != survivor {
		t.Fatalf("leader %s after the kill, want %s", got, survivor)
	}
	t.Logf("leader %s killed; %s leads %s later", leader, survivor, time.Since(killed).Round(100*time.Millisecond))
	// The killed replica comes back as a follower (the longest-running
	// member leads): still one leader, the same, and it has the same modes.
	dir := dirA
	if victim == b {
		dir = dirB
	}
	back := start("serve", dir).waitAddr(t, dir)
	deadline := time.Now().Add(60 * time.Second)
	for leading(back) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted replica reports yiwang_leader %d", leading(back))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	if got := oneLeader(survivor, back); got != survivor {
		t.Fatalf("leader %s after the restart, want %s", got, survivor)
	}
	addrA, addrB = survivor, back
	waitSame("after the restart")
}
