package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The server's timeouts. A route that may take longer to answer (a
// recomputation, a replay) extends its own write deadline.
const (
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout bounds reading a whole request, body included: a body
	// trickled in slower than this is cut off.
	ReadTimeout  = 15 * time.Second
	WriteTimeout = 2 * time.Minute
	// IdleTimeout closes a keep-alive connection that sends nothing.
	IdleTimeout    = 30 * time.Second
	MaxHeaderBytes = 32 << 10
	// longWrite is the write deadline of routes that compute on request.
	longWrite = 30 * time.Minute
)

// NewServer returns an http.Server for h with the timeouts above.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes}
}

// Body sizes.
const (
	maxBody    = 64 << 10 // every JSON body but SQL's
	maxSQLBody = 1 << 20
)

// decodeBody reads the request's JSON object into v, strictly: the body
// must be application/json, at most max bytes (413 beyond), one object with
// no key twice (keys compared as encoding/json matches them, without
// regard to case) and no key outside ASCII, no unknown field and nothing
// after it (400). shape
// describes the expected body in the error. It answers the error itself
// and returns false when the body is refused.
func decodeBody(w http.ResponseWriter, r *http.Request, max int64, v any, shape string) bool {
	if err := jsonContent(r); err != nil {
		writeErr(w, http.StatusUnsupportedMediaType, err)
		return false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is larger than %d bytes", max))
		return false
	case err != nil:
		writeErr(w, http.StatusBadRequest, fmt.Errorf("read body: %w", err))
		return false
	}
	if err := strictJSON(b, v); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("body must be %s: %w", shape, err))
		return false
	}
	return true
}

// strictJSON decodes b into v, refusing duplicated keys, unknown fields and
// trailing data.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := noDuplicateKeys(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the JSON value at byte %d", dec.InputOffset())
	}
	dec = json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// maxDepth bounds the nesting of a request body.
const maxDepth = 32

// noDuplicateKeys reads one JSON value from dec and fails on an object
// that names a key twice. encoding/json would keep the last and, since it
// matches fields without regard to case, "sql" and "SQL" are the same key.
// Its case folding is Unicode's ("ſql" matches "sql" too: ſ folds to s,
// K to k), so a key outside ASCII, which no field has, is refused rather
// than folded here differently.
func noDuplicateKeys(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return errors.New("empty body")
		}
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key := k.(string)
			for i := 0; i < len(key); i++ {
				if key[i] >= utf8.RuneSelf {
					return fmt.Errorf("key %q is not a field name: field names are ASCII", key)
				}
			}
			key = strings.ToLower(key)
			if seen[key] {
				return fmt.Errorf("key %q appears twice", k)
			}
			seen[key] = true
			if err := noDuplicateKeys(dec, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := noDuplicateKeys(dec, depth+1); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

func jsonContent(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return fmt.Errorf("the body must be sent as Content-Type: application/json, got %q", r.Header.Get("Content-Type"))
	}
	return nil
}

// intParam reads the query parameter name as a whole number in [lo, hi],
// def when absent.
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s must be a whole number from %d to %d, got %q", name, lo, hi, v)
	}
	return n, nil
}

// guard refuses a request that changes state unless it is sent as JSON,
// to a Host the server answers for, from no other web origin (so that a
// web page a user opens can neither post a form to the API nor reach it
// under another name by DNS rebinding). Safe methods pass, unless their
// parameters are not UTF-8.
type guard struct {
	origins *http.CrossOriginProtection
	// hosts the server answers for state-changing requests; empty admits
	// any (a server on a public address, behind its own name).
	hosts map[string]bool
}

// newGuard answers for the loopback names when listen is a loopback
// address, and for any Host otherwise.
func newGuard(listen string) *guard {
	g := &guard{origins: http.NewCrossOriginProtection(), hosts: map[string]bool{}}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return g
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		for _, h := range []string{"127.0.0.1", "localhost", "[::1]", host} {
			if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
				h = "[" + h + "]"
			}
			g.hosts[h+":"+port] = true
			if port == "80" { // a browser leaves the default port out
				g.hosts[h] = true
			}
		}
	}
	return g
}

func (g *guard) check(r *http.Request) (int, error) {
	// A parameter that is not UTF-8 can name nothing: refused here, before
	// it reaches a query (DuckDB refuses such text with an error).
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return http.StatusBadRequest, errors.New("the query parameters are not valid UTF-8")
			}
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return 0, nil
	}
	if len(g.hosts) > 0 && !g.hosts[strings.ToLower(r.Host)] {
		return http.StatusMisdirectedRequest, fmt.Errorf("this server does not answer for host %q", r.Host)
	}
	if err := g.origins.Check(r); err != nil {
		return http.StatusForbidden, fmt.Errorf("cross-origin request refused: %w", err)
	}
	if err := jsonContent(r); err != nil {
		return http.StatusUnsupportedMediaType, err
	}
	return 0, nil
}

func (g *guard) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, err := g.check(r); err != nil {
			writeErr(w, code, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// limiter bounds how many costly requests (database queries, reports) run
// at once; the others wait their turn, up to wait, and are then answered
// 503 with Retry-After. Health, readiness and metrics never wait.
type limiter struct {
	slots chan struct{}
	wait  time.Duration
}

func newLimiter(n int, wait time.Duration) *limiter {
	return &limiter{slots: make(chan struct{}, max(n, 1)), wait: wait}
}

func (l *limiter) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !l.acquire(r.Context()) {
			busy(w, r, l, errors.New("requests are running"))
			return
		}
		defer func() { <-l.slots }()
		h(w, r)
	}
}

// busy answers 503 with Retry-After for a request that waited for one of
// l's slots in vain (what holds them); nothing when its client left.
func busy(w http.ResponseWriter, r *http.Request, l *limiter, what error) {
	if r.Context().Err() != nil {
		return
	}
	w.Header().Set("Retry-After", "5")
	writeErr(w, http.StatusServiceUnavailable, fmt.Errorf("busy: %d %v and others waited %s; retry later", cap(l.slots), what, l.wait))
}

func (l *limiter) acquire(ctx context.Context) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// extendWrite lets a route that computes on request answer after the
// server's WriteTimeout.
func extendWrite(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(longWrite))
}
