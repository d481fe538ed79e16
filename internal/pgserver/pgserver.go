// Package pgserver starts a private PostgreSQL server from the machine's
// packages, for tests and for the demo's simulated property system: initdb
// in a directory of its own, the server on 127.0.0.1 and a free port with
// its unix socket inside the data directory, trust authentication for the
// superuser postgres (loopback only), and a Stop that shuts it down.
//
// initdb refuses to run as root, so when the process is root the cluster's
// directory is given to the postgres system user (the one Debian's package
// creates) and initdb and postgres run as that user. The server dies with
// the process that started it (Pdeathsig), so a killed test binary leaves
// no server behind.
//
// The package exports no metrics.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Install says what to install when PostgreSQL is missing.
const Install = "install PostgreSQL's server binaries: apt-get install postgresql (scripts/install-test-deps does)"

// ErrUnavailable is wrapped by every error saying that PostgreSQL cannot be
// started on this machine at all (no binaries, no postgres user as root).
var ErrUnavailable = errors.New("postgresql unavailable")

// Options configure a server. The zero value is usable: a temporary
// directory, a free port, fsync off.
type Options struct {
	// Dir holds the cluster (Dir/data) and the server's log
	// (Dir/postgres.log). Empty makes a temporary directory that Stop
	// removes. A Dir that already holds a cluster is started again, with
	// its data, rather than initialised; Stop leaves it in place.
	Dir string
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// Durable keeps fsync, synchronous commits and full-page writes on.
	// By default they are off: fast, and safe against the server's or
	// this process's crash, but not against the machine's.
	Durable bool
	// ReadyTimeout bounds the wait for the server to accept connections
	// (default 30s).
	ReadyTimeout time.Duration
}

// Server is a running private PostgreSQL server.
type Server struct {
	dir     string
	data    string
	port    int
	temp    bool
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string

	stopOnce sync.Once
	stopErr  error
}

// binaries are what a server needs.
var binaries = []string{"initdb", "postgres"}

// BinDir returns the directory of initdb and postgres: the newest
// /usr/lib/postgresql/<version>/bin (Debian's layout), else the directory of
// initdb on PATH, else the directory pg_config --bindir reports.
func BinDir() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	version := func(p string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(p))), 64)
		return v
	}
	slices.SortFunc(found, func(a, b string) int {
		switch va, vb := version(a), version(b); {
		case va < vb:
			return -1
		case va > vb:
			return 1
		}
		return strings.Compare(a, b)
	})
	var dirs []string
	for i := len(found) - 1; i >= 0; i-- {
		dirs = append(dirs, filepath.Dir(found[i]))
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	for _, d := range dirs {
		if hasBinaries(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: no initdb and postgres under /usr/lib/postgresql/*/bin, on PATH or in pg_config --bindir: %s", ErrUnavailable, Install)
}

func hasBinaries(dir string) bool {
	for _, b := range binaries {
		fi, err := os.Stat(filepath.Join(dir, b))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// Available reports whether a server can be started here: the binaries
// are installed and, for root, the postgres user exists. The error says
// what to install; it wraps ErrUnavailable.
func Available() error {
	if _, err := BinDir(); err != nil {
		return err
	}
	_, err := runAs()
	return err
}

// runAs returns the credential to run PostgreSQL's programs with: nil to
// run as ourselves, the postgres user when we are root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: running as root, and initdb refuses root, but there is no postgres user to run it as (%v): %s", ErrUnavailable, err, Install)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: the postgres user has a uid %q or gid %q that is not a number", ErrUnavailable, u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Start initialises a cluster in o.Dir (unless it holds one), starts the
// server and waits until it accepts connections. ctx bounds the start
// only; the server runs until Stop (or until this process exits).
func Start(ctx context.Context, o Options) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	s := &Server{dir: o.Dir}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "yiwang-pg-"); err != nil {
			return nil, fmt.Errorf("make server directory: %w", err)
		}
		s.temp = true
	} else {
		if s.dir, err = filepath.Abs(s.dir); err != nil {
			return nil, fmt.Errorf("server directory %s: %w", o.Dir, err)
		}
		if err := os.MkdirAll(s.dir, 0o750); err != nil {
			return nil, fmt.Errorf("make server directory: %w", err)
		}
	}
	fail := func(err error) (*Server, error) {
		if s.temp {
			_ = os.RemoveAll(s.dir)
		}
		return nil, err
	}
	s.data = filepath.Join(s.dir, "data")
	s.logPath = filepath.Join(s.dir, "postgres.log")
	if cred != nil {
		if err := own(s.dir, s.data, s.logPath, cred); err != nil {
			return fail(err)
		}
		if err := reachable(s.dir, cred); err != nil {
			return fail(err)
		}
	}
	run := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = s.dir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + s.dir, "LC_ALL=C", "TZ=UTC"}
		// Pdeathsig: the server goes when the process that started it goes.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
		return cmd
	}
	if _, err := os.Stat(filepath.Join(s.data, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		out, err := run("initdb", "-D", s.data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync").CombinedOutput()
		if err != nil {
			return fail(fmt.Errorf("initdb in %s: %w\n%s", s.data, err, out))
		}
	} else if err != nil {
		return fail(fmt.Errorf("look for a cluster in %s: %w", s.data, err))
	}
	// A unix socket path is limited to 107 bytes; a deep directory gets
	// TCP only.
	socketDir := s.data
	if len(socketDir)+len("/.s.PGSQL.65535.lock") > 107 {
		socketDir = ""
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s.port = o.Port
		if s.port == 0 {
			if s.port, err = freePort(); err != nil {
				return fail(err)
			}
		}
		args := []string{"-D", s.data, "-p", strconv.Itoa(s.port),
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + socketDir,
			"-c", "max_connections=200"}
		if !o.Durable {
			args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
		}
		log, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fail(fmt.Errorf("open server log: %w", err))
		}
		s.cmd = run("postgres", args...)
		s.cmd.Stdout, s.cmd.Stderr = log, log
		if err := s.cmd.Start(); err != nil {
			_ = log.Close()
			return fail(fmt.Errorf("start postgres: %w", err))
		}
		exited := make(chan struct{})
		s.exited = exited
		go func(cmd *exec.Cmd) { _ = cmd.Wait(); _ = log.Close(); close(exited) }(s.cmd)
		if lastErr = s.waitReady(ctx, o.ReadyTimeout); lastErr == nil {
			return s, nil
		}
		s.shutdown(syscall.SIGQUIT)
		if o.Port != 0 || ctx.Err() != nil {
			break // a chosen port is not retried, a cancelled start neither
		}
	}
	return fail(lastErr)
}

// own gives the server's user dir (not what else it holds), the cluster
// in data, if there is one, and the log.
func own(dir, data, log string, cred *syscall.Credential) error {
	uid, gid := int(cred.Uid), int(cred.Gid)
	if err := os.Lchown(dir, uid, gid); err != nil {
		return fmt.Errorf("give %s to the postgres user: %w", dir, err)
	}
	err := filepath.WalkDir(data, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("give %s to the postgres user: %w", data, err)
	}
	if err := os.Lchown(log, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("give %s to the postgres user: %w", log, err)
	}
	return nil
}

// reachable checks, as the server's user, that it can enter and write dir:
// a directory under another user's private one (mode 0700) is not.
func reachable(dir string, cred *syscall.Credential) error {
	cmd := exec.Command("/bin/sh", "-c", `test -d "$1" && test -x "$1" && test -w "$1"`, "sh", dir)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the postgres user (the server runs as it, since initdb refuses root) cannot enter and write %s, probably because a parent directory is private: use a directory it can reach, or leave Options.Dir empty for a temporary one", dir)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// waitReady connects until the server answers, it exits, limit passes or
// ctx ends.
func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited at start (log %s):\n%s", s.logPath, s.logTail())
		default:
		}
		err := s.ours(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, errNotOurs) {
			// Another server holds the port; ours will exit.
			select {
			case <-s.exited:
			case <-time.After(5 * time.Second):
			}
			return fmt.Errorf("port %d: %w (log %s):\n%s", s.port, err, s.logPath, s.logTail())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready after %s (log %s): %w\n%s", limit, s.logPath, err, s.logTail())
		case <-s.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var errNotOurs = errors.New("another PostgreSQL server answers there")

// ours connects and checks that the server answering is the one started on
// s.data, not another one that held the port first.
func (s *Server) ours(ctx context.Context) error {
	actx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := pgx.Connect(actx, s.URL())
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(ctx) }()
	var data string
	if err := c.QueryRow(actx, "SELECT current_setting('data_directory')").Scan(&data); err != nil {
		return err
	}
	if filepath.Clean(data) != s.data {
		return fmt.Errorf("%w (its data directory is %s)", errNotOurs, data)
	}
	return nil
}

// logTail returns the last lines of the server's log.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// URL returns the superuser's connection URL to the database postgres:
// postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable.
func (s *Server) URL() string { return s.DatabaseURL("postgres") }

// DatabaseURL returns the superuser's connection URL to database name.
func (s *Server) DatabaseURL(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

// Port returns the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Dir returns the server's directory: the cluster in Dir/data, the log in
// Dir/postgres.log.
func (s *Server) Dir() string { return s.dir }

// CreateDatabase creates an empty database and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	c, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	_, err = c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if cerr := c.Close(ctx); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.DatabaseURL(name), nil
}

// Stop shuts the server down (a fast shutdown: connections are closed,
// the cluster is left consistent) and waits for it; a temporary directory
// is removed. Calling it again returns the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.shutdown(syscall.SIGINT)
		if s.temp {
			if err := os.RemoveAll(s.dir); err != nil {
				s.stopErr = fmt.Errorf("remove server directory: %w", err)
			}
		}
	})
	return s.stopErr
}

// shutdown signals the postmaster (SIGINT: fast, SIGQUIT: immediate) and
// waits for it, killing it after 10 seconds.
func (s *Server) shutdown(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}
