package pgserver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// start starts a server for t, failing (never skipping) when PostgreSQL is
// not installed, so that CI cannot go green without running these tests.
func start(t *testing.T, o Options) *Server {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(ctx) })
	return c
}

func TestAvailable(t *testing.T) {
	if err := Available(); err != nil {
		t.Fatalf("PostgreSQL is needed by these tests: %v", err)
	}
	bin, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range binaries {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Errorf("BinDir %s lacks %s: %v", bin, b, err)
		}
	}
}

func TestStartQueryStop(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	if !strings.HasPrefix(s.URL(), "postgres://postgres@127.0.0.1:") || !strings.HasSuffix(s.URL(), "/postgres?sslmode=disable") {
		t.Errorf("URL %q", s.URL())
	}
	ctx := context.Background()
	c := connect(t, s.URL())
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1: %d %v", one, err)
	}
	var listen, socket string
	if err := c.QueryRow(ctx, "SELECT current_setting('listen_addresses'), current_setting('unix_socket_directories')").Scan(&listen, &socket); err != nil {
		t.Fatal(err)
	}
	if listen != "127.0.0.1" {
		t.Errorf("listen_addresses %q, want loopback only", listen)
	}
	if socket != filepath.Join(s.Dir(), "data") {
		t.Errorf("unix_socket_directories %q, want the data directory", socket)
	}
	url, err := s.CreateDatabase(ctx, "property")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, url).Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	_ = c.Close(ctx)
	dir := s.Dir()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary directory %s left behind: %v", dir, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if c, err := pgx.Connect(cctx, s.URL()); err == nil {
		_ = c.Close(ctx)
		t.Error("the server still answers after Stop")
	}
}

// TestRestartKeepsData: a server started again on the directory of a
// stopped one finds its data, as the demo's does after a restart.
func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "yiwang-pgserver-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ctx := context.Background()
	s1 := start(t, Options{Dir: dir, Durable: true})
	c := connect(t, s1.URL())
	if _, err := c.Exec(ctx, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	_ = c.Close(ctx)
	if err := s1.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		t.Fatalf("Stop removed a directory it was given: %v", err)
	}
	s2 := start(t, Options{Dir: dir})
	var x int
	if err := connect(t, s2.URL()).QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil || x != 42 {
		t.Fatalf("after restart: %d %v", x, err)
	}
}

func TestTwoServersAtOnce(t *testing.T) {
	t.Parallel()
	a, b := start(t, Options{}), start(t, Options{})
	if a.Port() == b.Port() || a.Dir() == b.Dir() {
		t.Fatalf("two servers share port %d or directory %s", a.Port(), a.Dir())
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	// A port already taken is not retried on another one.
	s := start(t, Options{})
	_, err := Start(context.Background(), Options{Port: s.Port(), ReadyTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "postgres") {
		t.Errorf("start on a taken port: %v", err)
	}
	if os.Geteuid() == 0 {
		// As root the server runs as postgres, which cannot enter a
		// directory under root's private one.
		private := t.TempDir()
		if err := os.Chmod(private, 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := Start(context.Background(), Options{Dir: filepath.Join(private, "pg")})
		if err == nil || !strings.Contains(err.Error(), "cannot enter and write") {
			t.Errorf("start under a private directory: %v", err)
		}
	}
}
