package pipelines

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/simulate"
)

// TestMain lets the test binary act as a pipeline process, so that fault
// tests can kill it with SIGKILL like a real crash.
func TestMain(m *testing.M) {
	if os.Getenv("YIWANG_TEST_CHILD") == "1" {
		os.Exit(runChild())
	}
	// The tests' plain http.Get and http.Post calls to the pipeline's API
	// carry its admin token.
	http.DefaultClient.Transport = withAdminToken{http.DefaultTransport}
	os.Exit(m.Run())
}

// testAdminToken opens the administrator's routes of the tests' pipelines.
const testAdminToken = "test-admin-token"

// withAdminToken adds the test admin token to a request that has no
// Authorization of its own.
type withAdminToken struct{ next http.RoundTripper }

func (t withAdminToken) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+testAdminToken)
	}
	return t.next.RoundTrip(r)
}

func runChild() int {
	if os.Getenv("YIWANG_TEST_ROLE") == "broker" {
		return runBrokerChild()
	}
	raw, base := DemoConfig()
	dir := os.Getenv("YIWANG_DATA")
	cfg, err := Parse(raw, "newarea.yaml", base, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.Kafka.Brokers = []string{os.Getenv("YIWANG_TEST_BROKER")}
	for i := range cfg.Sources {
		cfg.Sources[i].Every = 100 * time.Millisecond
	}
	cfg.Loader.BatchSize = 500 // many commits: many points to be killed at
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	role := map[string]Role{"": RoleAll, "connect": RoleConnect, "serve": RoleServe}[os.Getenv("YIWANG_TEST_ROLE")]
	err = Run(ctx, cfg, Options{Role: role, AdminToken: testAdminToken, PIIKey: testKey(), Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: childLogLevel()})),
		Ready: func(server, _ string) { writeReady(dir, "server.addr", server) }})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// writeReady writes the file name in dir whole, for the test to find.
func writeReady(dir, name, content string) {
	_ = os.WriteFile(filepath.Join(dir, name+".tmp"), []byte(content), 0o644)
	_ = os.Rename(filepath.Join(dir, name+".tmp"), filepath.Join(dir, name))
}

// runBrokerChild is `yiwang broker` in a child: the embedded broker on
// YIWANG_TEST_BROKER with its log in YIWANG_DATA, until it is killed.
func runBrokerChild() int {
	dir := os.Getenv("YIWANG_DATA")
	b, err := kafka.StartBroker(kafka.BrokerConfig{Listen: os.Getenv("YIWANG_TEST_BROKER"), DataDir: dir, Partitions: 4})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer b.Close()
	writeReady(dir, "server.addr", b.Addr())
	select {}
}

type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, dir, broker, src, token string, env map[string]string) *child {
	t.Helper()
	_ = os.Remove(filepath.Join(dir, "server.addr"))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "YIWANG_TEST_CHILD=1", "YIWANG_DATA="+dir, "YIWANG_LISTEN=127.0.0.1:0",
		"YIWANG_TEST_BROKER="+broker, "YIWANG_SOURCE_URL="+src, "YIWANG_SOURCE_TOKEN="+token)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "child.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &child{cmd: cmd}
}

// districtOn runs a simulated district whose ledgers, property database
// and police topic hand over to broker, until the test ends; env is what
// the pipeline file reads of them.
func districtOn(t *testing.T, broker string) (sim *simulate.Simulator, srcURL string, env map[string]string) {
	t.Helper()
	sim, src := newSim("tok")
	t.Cleanup(src.Close)
	ds, env := demoEnv(t, sim)
	ctx, cancel := context.WithCancel(context.Background())
	ds.Run(ctx, []string{broker})
	t.Cleanup(func() { cancel(); ds.Close() })
	return sim, src.URL, env
}

// startRole starts a child running role (broker, connect, serve) with its
// state in dir.
func startRole(t *testing.T, role, dir, broker, srcURL string, env map[string]string) *child {
	t.Helper()
	e := map[string]string{"YIWANG_TEST_ROLE": role}
	for k, v := range env {
		e[k] = v
	}
	return startChild(t, dir, broker, srcURL, "tok", e)
}

// waitAddr waits until the child serves.
func (c *child) waitAddr(t *testing.T, dir string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(dir, "server.addr")); err == nil {
			c.addr = string(b)
			return c.addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "child.log"))
	t.Fatalf("child did not start:\n%s", log)
	return ""
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestLoaderSurvivesSIGKILL kills the pipeline process (connectors and
// loader) at random points, 24 times, while records flow; the ledger check
// must still hold: nothing lost, nothing duplicated.
func TestLoaderSurvivesSIGKILL(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	broker, err := kafka.StartBroker(kafka.BrokerConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	sim, srcURL, env := districtOn(t, broker.Addr())
	dir := t.TempDir()
	kills := 0
	for i := range 24 {
		c := startChild(t, dir, broker.Addr(), srcURL, "tok", env)
		if i%3 == 0 {
			c.waitAddr(t, dir) // sometimes after start-up, sometimes during it
		}
		sim.Step(150 + rng.IntN(300))
		time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		state, _ := c.cmd.Process.Wait()
		if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			kills++
		}
	}
	if kills < 20 {
		log, _ := os.ReadFile(filepath.Join(dir, "child.log"))
		t.Fatalf("only %d of 24 runs were killed (others exited by themselves):\n%s", kills, tail(string(log), 3000))
	}
	c := startChild(t, dir, broker.Addr(), srcURL, "tok", env)
	addr := c.waitAddr(t, dir)
	waitLedger(t, sim, addr, broker.Addr(), 120*time.Second)
	rows := query(t, addr, "SELECT count(*) FROM grid_events")
	t.Logf("%d kills; ledger holds; grid_events has %v rows", kills, rows[0][0])
}

// TestBrokerRestartMidStream stops the embedded broker while connectors and
// the loader run, and starts it again on the same data directory and port.
func TestBrokerRestartMidStream(t *testing.T) {
	addr := freePort(t)
	kdir := t.TempDir()
	start := func() *kafka.Broker {
		b, err := kafka.StartBroker(kafka.BrokerConfig{Listen: addr, DataDir: kdir, Partitions: 4})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	broker := start()
	sim, _ := newSim("tok")
	p := startDemo(t, sim, "tok", func(c *Config) {
		c.Kafka.Brokers = []string{addr}
	})
	sim.Step(1500)
	time.Sleep(700 * time.Millisecond)
	broker.Close()
	sim.Step(1500) // arrives while the broker is down
	time.Sleep(2 * time.Second)
	broker = start()
	defer broker.Close()
	sim.Step(1500)
	waitLedger(t, sim, p.server, addr, 120*time.Second)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// childLogLevel is the children's log level: warnings, or what
// YIWANG_TEST_LOG_LEVEL (debug, info) asks for when chasing a failure.
func childLogLevel() slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(os.Getenv("YIWANG_TEST_LOG_LEVEL"))) != nil {
		return slog.LevelWarn
	}
	return l
}
