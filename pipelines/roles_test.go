package pipelines

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestRolesSurviveSIGKILL runs the three roles as three processes — the
// broker, the connectors and the server (loader, scheduler, API) — and
// kills one of them at a random point, 18 times, while records flow, each
// restarted at once; the ledger check must hold at the end: every valid
// record in its table once at its latest version, every invalid one a
// dead letter.
func TestRolesSurviveSIGKILL(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	brokerAddr := freePort(t)
	dirs := map[string]string{"broker": t.TempDir(), "connect": t.TempDir(), "serve": t.TempDir()}
	var srcURL string
	var env map[string]string
	start := func(role string) *child { return startRole(t, role, dirs[role], brokerAddr, srcURL, env) }
	procs := map[string]*child{}
	t.Cleanup(func() { // whatever failed, what each process said last
		if !t.Failed() {
			return
		}
		for role, dir := range dirs {
			log, _ := os.ReadFile(filepath.Join(dir, "child.log"))
			t.Logf("%s's log, its end:\n%s", role, tail(string(log), 4000))
		}
	})
	procs["broker"] = start("broker")
	procs["broker"].waitAddr(t, dirs["broker"])
	sim, srcURL, env := districtOn(t, brokerAddr) // its police topic needs the broker
	procs["serve"], procs["connect"] = start("serve"), start("connect")
	procs["serve"].waitAddr(t, dirs["serve"])

	roles := []string{"broker", "connect", "serve"}
	kills := map[string]int{}
	for range 18 {
		victim := roles[rng.IntN(len(roles))]
		sim.Step(100 + rng.IntN(250))
		time.Sleep(time.Duration(200+rng.IntN(1200)) * time.Millisecond)
		c := procs[victim]
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		state, _ := c.cmd.Process.Wait()
		if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			kills[victim]++
		} else {
			log, _ := os.ReadFile(filepath.Join(dirs[victim], "child.log"))
			t.Fatalf("%s exited by itself before it was killed:\n%s", victim, tail(string(log), 3000))
		}
		procs[victim] = start(victim)
		if victim == "broker" { // the others retry meanwhile; a new one needs it
			procs[victim].waitAddr(t, dirs[victim])
		}
	}
	sim.Step(300)
	addr := procs["serve"].waitAddr(t, dirs["serve"])
	if diff := ledgerWithin(t, sim, addr, brokerAddr, 180*time.Second); diff != "" {
		// What each process was doing: its goroutines, dumped by SIGQUIT.
		for _, role := range roles {
			_ = procs[role].cmd.Process.Signal(syscall.SIGQUIT)
			_, _ = procs[role].cmd.Process.Wait()
			log, _ := os.ReadFile(filepath.Join(dirs[role], "child.log"))
			if keep := os.Getenv("YIWANG_TEST_KEEP"); keep != "" {
				_ = os.WriteFile(filepath.Join(keep, fmt.Sprintf("%d-%s.log", seed, role)), log, 0o644)
			}
			t.Logf("%s's log, its end:\n%s", role, tail(string(log), 6000))
		}
		t.Fatalf("ledger check failed after 3m: %s", diff)
	}
	rows := query(t, addr, "SELECT count(*) FROM grid_events")
	t.Logf("kills %v; ledger holds; grid_events has %v rows", kills, rows[0][0])
}
