package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yiwang-gov/yiwang/internal/audit"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/queries"
)

// Role is what a token may do; each role may do what the ones before it
// may.
type Role int

const (
	// RoleViewer reads what its areas hold.
	RoleViewer Role = iota + 1
	// RoleOperator also acknowledges anomalies and switches modes, in its
	// areas.
	RoleOperator
	// RoleAdmin also runs SQL, recomputes, replays dead letters, reads
	// the dead letters, the file reports and the audit log.
	RoleAdmin
)

var roleNames = map[Role]string{RoleViewer: "viewer", RoleOperator: "operator", RoleAdmin: "admin"}

func (r Role) String() string { return roleNames[r] }

// ParseRole reads viewer, operator or admin.
func ParseRole(s string) (Role, error) {
	for r, name := range roleNames {
		if s == name {
			return r, nil
		}
	}
	return 0, fmt.Errorf("role must be viewer, operator or admin, got %q", s)
}

// Token is one API token as the pipeline file defines it: the SHA-256 of
// its secret (never the secret), its role and what it grants — area codes
// and responsibility units, each with everything below it, or "district"
// for the whole district.
type Token struct {
	Name   string
	SHA256 [32]byte
	Role   Role
	Areas  []string
	// Unlimited exempts the token from the rate limit (the operator's own
	// YIWANG_ADMIN_TOKEN, which the CLI and the benchmarks use).
	Unlimited bool
}

// HashToken is the SHA-256 a Token keeps of its secret.
func HashToken(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// NewSecret returns a new random token secret.
func NewSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// principal is who a request comes from: its token and the scope the
// token's areas resolve to.
type principal struct {
	Token
	scope queries.Scope
}

type principalKey struct{}

// who is the request's principal, nil before access let it in.
func who(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	return p
}

// access finds the token of a request and resolves its scope, cached for
// a while (the reference tables change rarely, and a token's scope with
// them).
type access struct {
	tokens  map[[32]byte]Token
	st      *store.Store
	mu      sync.Mutex
	scopes  map[string]cachedScope
	buckets map[string]*bucket
}

// RateLimit bounds each token's requests: PerSecond on average, Burst at
// once. The zero RateLimit bounds nothing.
type RateLimit struct {
	PerSecond float64
	Burst     int
	// Now is the limiter's clock (default time.Now).
	Now func() time.Time
}

// bucket is one token's allowance: tokens left, as of at.
type bucket struct {
	left float64
	at   time.Time
}

// spend takes one request from the token's bucket and returns 0, or how
// long to wait when the bucket is empty; an Unlimited token has none.
func (a *access) spend(t Token, rl RateLimit) time.Duration {
	if rl.PerSecond <= 0 || t.Unlimited {
		return 0
	}
	name := t.Name
	now := time.Now()
	if rl.Now != nil {
		now = rl.Now()
	}
	burst := float64(max(rl.Burst, 1))
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := a.buckets[name]
	if !ok {
		b = &bucket{left: burst, at: now}
		a.buckets[name] = b
	}
	b.left = min(burst, b.left+now.Sub(b.at).Seconds()*rl.PerSecond)
	b.at = now
	if b.left < 1 {
		return time.Duration((1 - b.left) / rl.PerSecond * float64(time.Second))
	}
	b.left--
	return 0
}

type cachedScope struct {
	scope queries.Scope
	at    time.Time
}

// scopeTTL is how long a token's resolved scope is used before it is
// resolved again from the reference tables.
const scopeTTL = time.Minute

func newAccess(st *store.Store, tokens []Token) *access {
	a := &access{tokens: map[[32]byte]Token{}, st: st, scopes: map[string]cachedScope{}, buckets: map[string]*bucket{}}
	for _, t := range tokens {
		a.tokens[t.SHA256] = t
	}
	return a
}

// principal returns the request's principal; nil when it carries no
// token this server knows.
func (a *access) principal(r *http.Request) (*principal, error) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || secret == "" {
		return nil, nil
	}
	t, ok := a.tokens[HashToken(secret)]
	if !ok {
		return nil, nil
	}
	a.mu.Lock()
	c, ok := a.scopes[t.Name]
	a.mu.Unlock()
	if slices.Contains(t.Areas, queries.DistrictCode) {
		return &principal{Token: t, scope: queries.Scope{All: true}}, nil
	}
	if !ok || time.Since(c.at) > scopeTTL {
		s, err := queries.ResolveScope(r.Context(), a.st.DB(), t.Areas)
		if err != nil {
			return nil, fmt.Errorf("resolve the areas of token %s: %w", t.Name, err)
		}
		c = cachedScope{s, time.Now()}
		a.mu.Lock()
		a.scopes[t.Name] = c
		a.mu.Unlock()
	}
	return &principal{Token: t, scope: c.scope}, nil
}

// allow wraps h for the routes that need a token: 401 without a known
// token, 403 when the token's role is below need, 404 when the route's
// service is not wired in this process (missing says what); then h runs
// within one of l's slots (nil: no slot). The token is checked before a
// slot is taken, so that requests without one cannot hold the slots.
func (c Config) allow(need Role, l *limiter, wired bool, missing string, h http.HandlerFunc) http.HandlerFunc {
	if l != nil {
		h = l.wrap(h)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := c.access.principal(r)
		if err != nil {
			writeErr(w, http.StatusInternalServerError, internalError{err})
			return
		}
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="yiwang"`)
			writeErr(w, http.StatusUnauthorized, errors.New("this route needs Authorization: Bearer <token>; the pipeline file's api.tokens defines them"))
			return
		}
		if wait := c.access.spend(p.Token, c.RateLimit); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeErr(w, http.StatusTooManyRequests, fmt.Errorf("token %s sends more than %g requests a second; wait %s", p.Name, c.RateLimit.PerSecond, wait.Round(time.Millisecond)))
			return
		}
		if p.Role < need {
			writeErr(w, http.StatusForbidden, fmt.Errorf("this route needs the %s role; token %s is a %s", need, p.Name, p.Role))
			return
		}
		if !wired {
			writeErr(w, http.StatusNotFound, errors.New(missing+" in this process"))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// auditKey holds the request's audit record while it is answered.
type auditKey struct{}

type auditRecord struct {
	rows    int
	filters string // what was asked, when not the query parameters (admin SQL)
}

// audited writes an audit record for every answer of h, which reads data
// about persons or households: who, what (personal values masked), how
// many rows, the status. Without an audit log the route is refused:
// personal data is never served unrecorded.
func (c Config) audited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.Audit == nil {
			writeErr(w, http.StatusServiceUnavailable, errors.New("this route reads personal data and no audit log is kept in this process"))
			return
		}
		rec := &auditRecord{}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r.WithContext(context.WithValue(r.Context(), auditKey{}, rec)))
		p := who(r)
		filters := audit.Filters(r.URL.Query())
		if rec.filters != "" {
			filters = audit.Mask(rec.filters)
		}
		e := audit.Entry{At: time.Now(), RequestID: requestID(r), Who: p.Name, Role: p.Role.String(), Areas: p.Areas,
			Endpoint: r.Pattern, Filters: filters, Rows: rec.rows, Outcome: sw.status}
		if err := c.Audit.Record(context.WithoutCancel(r.Context()), e); err != nil {
			slog.Error("audit record not written", "request_id", e.RequestID, "err", err)
		}
	}
}

// countRows tells the request's audit record, if it has one, how many
// rows were answered.
func countRows(r *http.Request, n int) {
	if rec, ok := r.Context().Value(auditKey{}).(*auditRecord); ok {
		rec.rows = n
	}
}

// auditAsked tells the request's audit record what was asked, when the
// query parameters do not say it.
func auditAsked(r *http.Request, what string) {
	if rec, ok := r.Context().Value(auditKey{}).(*auditRecord); ok {
		rec.filters = what
	}
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type requestIDKey struct{}

// withRequestID gives every request an id, in its context and in the
// answer's X-Request-Id, which error answers and audit records quote.
func withRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}
