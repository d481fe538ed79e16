package sqldb

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgServer is a PostgreSQL server from the machine's packages, started by
// the tests in a temporary directory, listening on 127.0.0.1 and a free
// port, with TLS on (a certificate for 127.0.0.1 signed by caFile). Each
// test gets a database of its own (newDB), so tests run in parallel.
type pgServer struct {
	dir    string // owned by the server's user: data/, the socket, the log
	port   int
	caFile string
	cmd    *exec.Cmd
	exited chan struct{}
	dbs    atomic.Int64
}

// missingPostgres is how a test fails on a machine without the server:
// never a skip, so that CI cannot go green without running these tests.
const missingPostgres = "install postgresql (scripts/install-test-deps does)"

var shared struct {
	once sync.Once
	srv  *pgServer
	err  error
}

// TestMain stops the server that startPostgres started for the package.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.stop()
	}
	os.Exit(code)
}

// startPostgres returns the package's server, starting it on first use.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	shared.once.Do(func() {
		start := time.Now()
		shared.srv, shared.err = launchPostgres()
		if shared.err == nil {
			fmt.Fprintf(os.Stderr, "sqldb tests: PostgreSQL on 127.0.0.1:%d, started in %s\n", shared.srv.port, time.Since(start).Round(time.Millisecond))
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// pgBinDir finds initdb and postgres: Debian's /usr/lib/postgresql/<ver>/bin
// (the newest), else the directory pg_config reports.
func pgBinDir() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(found, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return va - vb
	})
	if len(found) > 0 {
		return filepath.Dir(found[len(found)-1]), nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New(missingPostgres + ": no initdb under /usr/lib/postgresql/*/bin")
}

func launchPostgres() (*pgServer, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	// initdb refuses to run as root: as root, run the server as postgres
	// (the user Debian's package creates); otherwise as ourselves.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%s: no postgres user to run the server as: %w", missingPostgres, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "yiwang-sqldb-pg-")
	if err != nil {
		return nil, err
	}
	own := func(path string) error {
		if cred == nil {
			return nil
		}
		return os.Chown(path, int(cred.Uid), int(cred.Gid))
	}
	if err := own(dir); err != nil {
		return nil, err
	}
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LC_ALL=C", "TZ=UTC"}
		// Pdeathsig: a test binary killed by a timeout takes the server along.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
		return cmd
	}
	data := filepath.Join(dir, "data")
	if out, err := command("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync").CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	caFile, err := writeCertificates(dir, data, own)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	var lastErr error
	for range 3 { // the free port may be taken before the server binds it
		s := &pgServer{dir: dir, port: freePort(), caFile: caFile, exited: make(chan struct{})}
		log, err := os.Create(filepath.Join(dir, "postgres.log"))
		if err != nil {
			return nil, err
		}
		s.cmd = command("postgres", "-D", data, "-p", strconv.Itoa(s.port),
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "max_connections=200", "-c", "ssl=on",
			"-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key")
		s.cmd.Stdout, s.cmd.Stderr = log, log
		if err := s.cmd.Start(); err != nil {
			_ = log.Close()
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("start postgres: %w", err)
		}
		go func() { _ = s.cmd.Wait(); _ = log.Close(); close(s.exited) }()
		if lastErr = s.waitReady(30 * time.Second); lastErr == nil {
			return s, nil
		}
		s.stop1()
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 55432
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *pgServer) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			return fmt.Errorf("postgres exited at start:\n%s", log)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, s.dsn("postgres", "postgres")+" sslmode=disable")
		cancel()
		if err == nil {
			_ = c.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %s: %w", limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop1 shuts the server down as pg_ctl stop -m immediate does (SIGQUIT to
// the postmaster) and waits for it.
func (s *pgServer) stop1() {
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *pgServer) stop() {
	s.stop1()
	_ = os.RemoveAll(s.dir)
}

// dsn is a keyword=value connection string without sslmode: the
// connector's tls.mode decides it.
func (s *pgServer) dsn(user, db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s", s.port, user, db)
}

// testDB is one test's database.
type testDB struct {
	srv   *pgServer
	name  string
	admin *pgx.Conn // superuser, in the test's database
}

// newDB creates an empty database for t, with an admin connection to it.
func (s *pgServer) newDB(t *testing.T) *testDB {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	root, err := pgx.Connect(ctx, s.dsn("postgres", "postgres")+" sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = root.Close(ctx) }()
	if _, err := root.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, s.dsn("postgres", name)+" sslmode=disable application_name=test-admin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close(ctx) })
	return &testDB{srv: s, name: name, admin: admin}
}

// exec runs statements as the superuser.
func (db *testDB) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := db.admin.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// connect opens another connection to the test's database.
func (db *testDB) connect(t *testing.T, user string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), db.srv.dsn(user, db.name)+" sslmode=disable application_name=test-"+user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

var envSeq atomic.Int64

// source returns a connector for cfg reading the test's database as user
// over dsn (default: the superuser over loopback without TLS).
func (db *testDB) source(t *testing.T, cfg Config, dsn string) *Source {
	t.Helper()
	s, err := db.newSource(t, cfg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (db *testDB) newSource(t *testing.T, cfg Config, dsn string) (*Source, error) {
	t.Helper()
	if dsn == "" {
		dsn = db.srv.dsn("postgres", db.name)
	}
	// Not t.Setenv: the tests run in parallel, each with its own variable.
	env := fmt.Sprintf("YIWANG_TEST_DSN_%d", envSeq.Add(1))
	if err := os.Setenv(env, dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Unsetenv(env) })
	cfg.DSNEnv = env
	if cfg.TLS.Mode == "" {
		cfg.TLS.Mode = "disable"
	}
	s, err := New(cfg, "order_id")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, nil
}

// backend returns the pid of the connector's connection, waiting until it
// is in state (e.g. "active": in the middle of a query).
func (db *testDB) backend(t *testing.T, state string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pid int
		err := db.admin.QueryRow(context.Background(),
			`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2 AND ($3 = '' OR state = $3)`,
			db.name, defaultApplicationName, state).Scan(&pid)
		if err == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connector backend in state %q: %v", state, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// terminate kills a backend as a DBA would, waiting until it is gone.
func (db *testDB) terminate(t *testing.T, pid int) {
	t.Helper()
	var ok bool
	if err := db.admin.QueryRow(context.Background(), `SELECT pg_terminate_backend($1, 5000)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate backend %d: %v %v", pid, ok, err)
	}
}

// writeCertificates makes a CA and a server certificate for 127.0.0.1
// only (not "localhost", to test name checks), in the data directory as
// PostgreSQL wants them; it returns the CA's file.
func writeCertificates(dir, data string, own func(string) error) (string, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "yiwang test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	write := func(path, typ string, der []byte, mode os.FileMode) error {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
			return err
		}
		return own(path)
	}
	caFile := filepath.Join(dir, "ca.pem")
	for _, f := range []struct {
		path, typ string
		der       []byte
		mode      os.FileMode
	}{
		{caFile, "CERTIFICATE", caDER, 0o644},
		{filepath.Join(data, "server.crt"), "CERTIFICATE", der, 0o644},
		{filepath.Join(data, "server.key"), "EC PRIVATE KEY", keyDER, 0o600},
	} {
		if err := write(f.path, f.typ, f.der, f.mode); err != nil {
			return "", err
		}
	}
	return caFile, nil
}
