// Package api serves yiwang's HTTP API: health, readiness, Prometheus
// metrics, the tables overview, indicators and modes for dashboards, and
// the administrator's routes (SQL, recomputation, mode switches, dead
// letters, door-knocking lists, file reports).
//
// Routes (the README's HTTP API section says the same with every
// parameter):
//
//	GET  /healthz, /readyz, /metrics
//	GET  /api/v1/tables
//	GET  /api/v1/indicators?name=&area=&level=&from=&to=&status=&limit=&after=
//	POST /api/v1/indicators/run       admin
//	GET  /api/v1/modes?limit=&after=
//	POST /api/v1/modes                admin
//	GET  /api/v1/deadletters?...      admin
//	POST /api/v1/deadletters/replay   admin
//	GET  /api/v1/doorknock/missing?target=&area=&at=&limit=&after=   admin
//	GET  /api/v1/files?..., /api/v1/files/report?...                 admin
//	GET  /api/v1/anomalies?status=&rule=&area=&limit=&after=, /api/v1/anomalies/{id}   admin
//	POST /api/v1/anomalies/{id}/ack|false-positive|incident {"who", "why"}            admin
//	POST /api/v1/sql {"sql": "SELECT ...", "limit": N}               admin
//
// Lists answer pages of bounded size with a cursor to the next, encoded
// as the rows arrive. Costly requests wait for a few slots (limiter), so
// that a crowd of clients cannot exhaust memory or starve /healthz and the
// loader. A request that changes state must be JSON, from no other web
// origin and to a Host the server answers for (guard), and its body is
// decoded strictly (decodeBody).
//
// The package exports no metrics of its own.
package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/yiwang-gov/yiwang/internal/anomaly"
	"github.com/yiwang-gov/yiwang/internal/audit"
	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/dashboard"

	"github.com/yiwang-gov/yiwang/internal/deadletter"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/connectors/filedrop"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/queries"
	"github.com/yiwang-gov/yiwang/schemas"
)

// Config wires the server.
type Config struct {
	Store    *store.Store
	Registry *schemas.Registry
	Metrics  *metrics.Metrics
	// AdminToken, when set, is one more token: an administrator's over
	// the whole district, named admin (YIWANG_ADMIN_TOKEN).
	AdminToken string
	// Tokens are the API's tokens. Every route but /healthz and /readyz
	// needs one (and /metrics when MetricsToken is set).
	Tokens []Token
	// MetricsToken puts /metrics behind a token of any role.
	MetricsToken bool
	// RateLimit bounds each token's requests (429 beyond).
	RateLimit RateLimit
	// Audit records every read of personal data; without it the routes
	// that read such data are refused.
	Audit *audit.Log
	// Listen is the address the server listens on. On a loopback address
	// a request that changes state must name it (or localhost) as its
	// Host, so that a web page cannot reach the API under a name of its
	// own (DNS rebinding).
	Listen string
	// SQLTimeout bounds one admin query (default 30 s).
	SQLTimeout time.Duration
	// Ready reports readiness.
	Ready func() bool
	// DeadLetters lists and replays dead letters; nil disables the routes.
	DeadLetters DeadLetterService
	// Indicators recomputes indicators; nil disables the route.
	Indicators IndicatorService
	// Modes switches areas between normal and emergency; nil disables
	// the route.
	Modes ModeService
	// Feedback records what people say of anomalies; nil disables the
	// routes.
	Feedback FeedbackService
	// Files reads the drop folders' per-file reports; nil disables the
	// routes.
	Files FileService
	// Catalog lists the indicators for GET /api/v1/catalog; nil answers
	// none.
	Catalog *queries.Catalog
	// Sources describes the pipeline's sources; nil disables the route.
	Sources SourceService

	access *access
}

// Page sizes and caps of the list routes and of admin SQL.
const (
	DefaultPage = 1000
	MaxPage     = 10000
	// DefaultSQLRows and MaxSQLRows bound the rows of one admin query;
	// MaxAnswerBytes bounds any one answer's encoded rows.
	DefaultSQLRows = 1000
	MaxSQLRows     = 100000
	MaxAnswerBytes = 64 << 20
	// DefaultSQLTimeout bounds one admin query.
	DefaultSQLTimeout = 30 * time.Second
	// listTimeout bounds the queries of the list routes.
	listTimeout = 30 * time.Second
	// busyWait is how long a costly request waits for a slot.
	busyWait = 10 * time.Second
	// sharedAnswers bounds the indicator answers buffered at once to be
	// sent to the requests sharing them, sharedPageBytes each one's rows:
	// at most about 128 MiB held for slow readers.
	sharedAnswers   = 8
	sharedPageBytes = 16 << 20
)

// FileService reads the per-file reports of the file-drop sources.
type FileService interface {
	// Reports returns the summaries of source's finished files (their
	// rejected rows left out), newest first; source "" means every
	// file-drop source.
	Reports(ctx context.Context, source string) ([]FileReport, error)
	// Report returns one finished file's whole report: the newest whose
	// name or stored_as is file. ok is false when there is none.
	Report(ctx context.Context, source, file string) (rep FileReport, ok bool, err error)
}

// FileReport is one finished file's report and the source that read it.
type FileReport struct {
	Source string `json:"source"`
	filedrop.Report
}

// SourceService describes the pipeline's sources as they run.
type SourceService interface {
	Sources(ctx context.Context) ([]Source, error)
}

// Source is what GET /api/v1/sources says of one source: where its records
// go, when its connector last handed over new records, how fresh its
// table is, and its recent dead letters by reason.
type Source struct {
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	Schema      string         `json:"schema"`
	Table       string         `json:"table"`
	Enabled     bool           `json:"enabled"`
	LastMovedAt *time.Time     `json:"last_moved_at"`
	Rows        int64          `json:"rows"`
	NewestEvent *time.Time     `json:"newest_event_time"`
	DeadLetters map[string]int `json:"dead_letters"`
}

// ModeService switches an area's mode (平急转换).
type ModeService interface {
	// SetMode records the switch; the scheduler sees it within its poll.
	SetMode(ctx context.Context, area string, mode queries.Mode, reason string) error
}

// FeedbackService records feedback on an anomaly (every replica applies
// it); anomaly.ErrNotFound when there is no such anomaly, another error
// for feedback that is wrong.
type FeedbackService interface {
	Give(ctx context.Context, f anomaly.Feedback) error
}

// IndicatorService recomputes indicators on request.
type IndicatorService interface {
	// Run computes the named indicators (all when names is empty) for the
	// periods overlapping [from, to).
	Run(ctx context.Context, names []string, from, to time.Time) (map[string]queries.Result, error)
}

// DeadLetterService reads and replays the dead-letter topic.
type DeadLetterService interface {
	// List returns the newest dead letters matching f, oldest first.
	List(ctx context.Context, f deadletter.Filter) ([]deadletter.Record, error)
	// Replay sends the matching dead letters back through validation.
	Replay(ctx context.Context, f deadletter.Filter, dryRun bool) (connectors.ReplayResult, error)
}

// New returns the server's handler.
func New(c Config) http.Handler {
	if c.SQLTimeout <= 0 {
		c.SQLTimeout = DefaultSQLTimeout
	}
	tokens := c.Tokens
	if c.AdminToken != "" {
		tokens = append(slices.Clone(tokens), Token{Name: "admin", SHA256: HashToken(c.AdminToken), Role: RoleAdmin, Areas: []string{queries.DistrictCode}, Unlimited: true})
	}
	c.access = newAccess(c.Store, tokens)
	// Costly requests wait for one of a few slots, the administrator's
	// apart from the others', so that neither starves the other, health
	// checks or the loader. A mode switch (平急转换) and feedback have
	// slots of their own: they must not wait behind a long admin query or
	// replay. A route checks the token before it takes a slot, so that
	// requests without one cannot hold the slots.
	public, heavy, switches := newLimiter(2, busyWait), newLimiter(2, busyWait), newLimiter(2, busyWait)
	viewer := func(l *limiter, h http.HandlerFunc) http.HandlerFunc { return c.allow(RoleViewer, l, true, "", h) }
	operator := func(wired bool, missing string, h http.HandlerFunc) http.HandlerFunc {
		return c.allow(RoleOperator, switches, wired, missing, h)
	}
	admin := func(wired bool, missing string, h http.HandlerFunc) http.HandlerFunc {
		return c.allow(RoleAdmin, heavy, wired, missing, h)
	}
	mux := http.NewServeMux()
	var routes []string
	handle := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, h)
		routes = append(routes, pattern)
	}
	handle("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	handle("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if c.Ready != nil && !c.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	metricsHandler := promhttp.HandlerFor(c.Metrics.Registry, promhttp.HandlerOpts{Registry: c.Metrics.Registry})
	if c.MetricsToken {
		handle("GET /metrics", c.allow(RoleViewer, nil, true, "", metricsHandler.ServeHTTP))
	} else {
		handle("GET /metrics", metricsHandler.ServeHTTP)
	}
	handle("GET /api/v1/tables", viewer(public, func(w http.ResponseWriter, r *http.Request) {
		t, err := c.Store.Tables(r.Context(), c.Registry)
		if err != nil {
			writeErr(w, http.StatusInternalServerError, internalError{err})
			return
		}
		writeJSON(w, map[string]any{"tables": t})
	}))
	handle("POST /api/v1/sql", admin(true, "", c.audited(c.sql)))
	shared := newFlights(sharedAnswers, "name", "area", "descendants", "level", "mode", "from", "to", "status", "limit", "after")
	handle("GET /api/v1/indicators", c.allow(RoleViewer, nil, true, "", func(w http.ResponseWriter, r *http.Request) {
		shared.do(w, r, public, c.indicators)
	}))
	handle("POST /api/v1/indicators/run", admin(c.Indicators != nil, "indicators are not computed", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Select   []string `json:"select"`
			From, To string
		}
		if !decodeBody(w, r, maxBody, &req, `{"select": [...], "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}`) {
			return
		}
		from, err1 := time.ParseInLocation(time.DateOnly, req.From, calendar.Zone)
		to, err2 := time.ParseInLocation(time.DateOnly, req.To, calendar.Zone)
		if err1 != nil || err2 != nil || !to.After(from) {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("from and to must be dates YYYY-MM-DD with to after from, got %q and %q", req.From, req.To))
			return
		}
		extendWrite(w)
		res, err := c.Indicators.Run(r.Context(), req.Select, from, to)
		if err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, res)
	}))
	handle("GET /api/v1/modes", viewer(public, c.modes))
	handle("POST /api/v1/modes", operator(c.Modes != nil, "modes are not kept", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Area, Mode, Reason string }
		if !decodeBody(w, r, maxBody, &req, `{"area", "mode", "reason"}`) {
			return
		}
		if !who(r).scope.Covers(req.Area) { // the same answer as for an area that does not exist
			writeErr(w, http.StatusBadRequest, queries.NoAreaError(req.Area))
			return
		}
		if err := c.Modes.SetMode(r.Context(), req.Area, queries.Mode(req.Mode), req.Reason); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, map[string]string{"area": req.Area, "mode": req.Mode})
	}))
	handle("POST /api/v1/anomalies/{id}/{action}", operator(c.Feedback != nil, "feedback is not kept", c.feedback))
	handle("GET /api/v1/deadletters", admin(c.DeadLetters != nil, "dead letters are not available", c.deadLetters))
	handle("POST /api/v1/deadletters/replay", admin(c.DeadLetters != nil, "dead letters are not available", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Source, Schema, Reason, Stage string
			Limit                         int
			DryRun                        bool `json:"dry_run"`
		}
		if !decodeBody(w, r, maxBody, &req, `{"source", "schema", "reason", "stage", "limit", "dry_run"}`) {
			return
		}
		if req.Limit < 0 || req.Limit > maxReplay {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("limit must be from 0 (the default, %d) to %d, got %d", defaultReplay, maxReplay, req.Limit))
			return
		}
		extendWrite(w)
		res, err := c.DeadLetters.Replay(r.Context(), deadletter.Filter{Source: req.Source, Schema: req.Schema,
			Reason: req.Reason, Stage: req.Stage, Limit: req.Limit}, req.DryRun)
		if err != nil {
			writeErr(w, http.StatusBadGateway, err)
			return
		}
		writeJSON(w, res)
	}))
	handle("GET /api/v1/doorknock/missing", viewer(heavy, c.audited(c.missing)))
	handle("GET /api/v1/emergencies/archive", viewer(heavy, c.audited(c.archive)))
	handle("GET /api/v1/anomalies", viewer(public, c.anomalies))
	handle("GET /api/v1/anomalies/{id}", viewer(public, c.audited(c.anomaly)))
	handle("GET /api/v1/audit", admin(true, "", c.auditLog))
	handle("GET /api/v1/areas", viewer(public, c.areas))
	handle("GET /api/v1/whoami", viewer(nil, func(w http.ResponseWriter, r *http.Request) {
		p := who(r)
		writeJSON(w, map[string]any{"name": p.Name, "role": p.Role.String(), "areas": p.Areas, "all": p.scope.All})
	}))
	handle("GET /api/v1/catalog", viewer(nil, c.catalog))
	handle("GET /api/v1/sources", c.allow(RoleViewer, public, c.Sources != nil, "sources are not described", func(w http.ResponseWriter, r *http.Request) {
		ss, err := c.Sources.Sources(r.Context())
		if err != nil {
			writeErr(w, http.StatusBadGateway, err)
			return
		}
		writeJSON(w, map[string]any{"sources": ss})
	}))
	handle("GET /api/v1/forces/teams", viewer(heavy, c.teams))
	handle("GET /api/v1/forces/members", viewer(heavy, c.audited(c.members)))
	handle("GET /api/v1/openapi.json", viewer(nil, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPIJSON)
	}))
	files := c.Files != nil
	handle("GET /api/v1/files", admin(files, "no file-drop source runs", c.files))
	handle("GET /api/v1/files/report", admin(files, "no file-drop source runs", c.fileReport))
	// The dashboard's page and files: public, as a browser asks for them
	// before it has a token; the page asks the API with the token the
	// user enters. Not API routes (the OpenAPI document leaves them out).
	dash := dashboard.Handler()
	mux.Handle("GET /{$}", dash)
	mux.Handle("GET /dashboard/", dash)
	return &routedHandler{Handler: withRequestID(newGuard(c.Listen).wrap(mux)), routes: routes}
}

// routedHandler is the API's handler and the routes it serves (method and
// path, as the OpenAPI document names them).
type routedHandler struct {
	http.Handler
	routes []string
}

// feedback records what an operator says of an anomaly in its areas; one
// outside them is answered as one that does not exist.
func (c Config) feedback(w http.ResponseWriter, r *http.Request) {
	kind, ok := map[string]string{"ack": anomaly.FeedbackAck, "false-positive": anomaly.FeedbackFalsePositive, "incident": anomaly.FeedbackIncident}[r.PathValue("action")]
	if !ok {
		writeErr(w, http.StatusNotFound, errors.New("the actions on an anomaly are ack, false-positive and incident"))
		return
	}
	var req struct{ Who, Why string }
	if !decodeBody(w, r, maxBody, &req, `{"who", "why"}`) {
		return
	}
	f := anomaly.Feedback{AnomalyID: r.PathValue("id"), Kind: kind, Who: req.Who, Why: req.Why}
	if f.Who == "" {
		f.Who = who(r).Name
	}
	q, args := anomaly.OneQuery(f.AnomalyID, who(r).scope)
	res, err := c.Store.QueryArgs(r.Context(), q, 1, args...)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, internalError{err})
		return
	}
	if len(res.Rows) == 0 {
		writeErr(w, http.StatusNotFound, fmt.Errorf("no anomaly %s", f.AnomalyID))
		return
	}
	if err := c.Feedback.Give(r.Context(), f); errors.Is(err, anomaly.ErrNotFound) {
		writeErr(w, http.StatusNotFound, fmt.Errorf("no anomaly %s", f.AnomalyID))
		return
	} else if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, map[string]string{"id": f.AnomalyID, "feedback": kind})
}

// Node is one place of a hierarchy as GET /api/v1/areas answers it, with
// the places under it.
type Node struct {
	Code     string  `json:"code"`
	Name     string  `json:"name"`
	Level    string  `json:"level"`
	AreaCode string  `json:"area_code,omitempty"` // a unit's area
	Children []*Node `json:"children,omitempty"`
}

// areas answers both hierarchies as trees, the areas and the
// responsibility (包保) units, each cut to the token's scope: a place
// whose parent the token may not see is a root.
func (c Config) areas(w http.ResponseWriter, r *http.Request) {
	scope := who(r).scope
	out := map[string][]*Node{}
	for _, h := range []struct {
		key string
		q   func(queries.Scope) (string, []any)
	}{{"areas", queries.AreasQuery}, {"units", queries.UnitsQuery}} {
		q, args := h.q(scope)
		res, err := c.Store.QueryArgs(r.Context(), q, MaxSQLRows, args...)
		if err != nil {
			writeErr(w, http.StatusInternalServerError, internalError{err})
			return
		}
		nodes := map[string]*Node{}
		parents := map[string]string{}
		var order []string
		for _, row := range res.Rows {
			n := &Node{Code: cellText(row[0]), Name: cellText(row[1]), Level: cellText(row[2])}
			if len(row) > 4 && row[4] != nil {
				n.AreaCode = cellText(row[4])
			}
			nodes[n.Code] = n
			if row[3] != nil {
				parents[n.Code] = cellText(row[3])
			}
			order = append(order, n.Code)
		}
		roots := []*Node{}
		for _, code := range order {
			if p, ok := nodes[parents[code]]; ok {
				p.Children = append(p.Children, nodes[code])
			} else {
				roots = append(roots, nodes[code])
			}
		}
		out[h.key] = roots
	}
	writeJSON(w, out)
}

// teams pages the five forces' teams in the token's areas, with their
// members and how many of them were active in the month (default: this
// month; ?month=YYYY-MM).
func (c Config) teams(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, end, ok := monthParam(w, q.Get("month"))
	if !ok {
		return
	}
	pg, from, ok := pageAfterID(w, q)
	if !ok {
		return
	}
	sqlText, args := queries.TeamsQuery(q.Get("type"), start, end, from, who(r).scope)
	writeQuery(w, r, c.stream(r, sqlText, pg, args...), pg, http.StatusOK)
}

// members pages one team's roster (pseudonyms only) within the token's
// areas: data about persons, audited.
func (c Config) members(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("team") == "" {
		writeErr(w, http.StatusBadRequest, errors.New("team is required: a team_id of GET /api/v1/forces/teams"))
		return
	}
	pg, from, ok := pageAfterID(w, q)
	if !ok {
		return
	}
	sqlText, args := queries.MembersQuery(q.Get("team"), from, who(r).scope)
	writeQuery(w, r, c.stream(r, sqlText, pg, args...), pg, http.StatusOK)
}

// monthParam reads a month YYYY-MM (Asia/Shanghai; "" for this month) as
// its first day and the next month's.
func monthParam(w http.ResponseWriter, v string) (time.Time, time.Time, bool) {
	now := time.Now().In(calendar.Zone)
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, calendar.Zone)
	if v != "" {
		t, err := time.ParseInLocation("2006-01", v, calendar.Zone)
		if err != nil {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("month must be YYYY-MM, got %q", v))
			return time.Time{}, time.Time{}, false
		}
		start = t
	}
	return start, start.AddDate(0, 1, 0), true
}

// Indicator is what GET /api/v1/catalog says of one indicator.
type Indicator struct {
	Name      string            `json:"name"`
	Title     map[string]string `json:"title"`
	Period    string            `json:"period"`
	Unit      string            `json:"unit"`
	Direction string            `json:"direction"`
	Grain     []string          `json:"grain"`
}

// catalog lists the indicators, their titles in Chinese and English,
// periods, units and directions, for dashboards.
func (c Config) catalog(w http.ResponseWriter, _ *http.Request) {
	out := []Indicator{}
	if c.Catalog != nil {
		for _, q := range c.Catalog.Queries() {
			if q.Kind != queries.KindIndicator {
				continue
			}
			ind := Indicator{Name: q.Name, Title: map[string]string{"zh": q.Title.Zh, "en": q.Title.En}, Period: string(q.Period),
				Unit: string(q.Unit), Direction: string(q.Direction)}
			for _, l := range q.Grain {
				ind.Grain = append(ind.Grain, string(l))
			}
			out = append(out, ind)
		}
	}
	writeJSON(w, map[string]any{"indicators": out})
}

// auditLog pages the audit log, newest first, by who.
func (c Config) auditLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pg, after, ok := pageParams(w, q, keyTime, keyText)
	if !ok {
		return
	}
	pg.token = func(last []any) string { return encodeCursor(audit.ListKey(last)) }
	sqlText, args := audit.ListQuery(q.Get("who"), after)
	writeQuery(w, r, c.stream(r, sqlText, pg, args...), pg, http.StatusOK)
}

// Replays are bounded like the dead-letter list.
const (
	defaultReplay = 1000
	maxReplay     = 100000
)

func (c Config) sql(w http.ResponseWriter, r *http.Request) {
	var req struct {
		SQL   string `json:"sql"`
		Limit int    `json:"limit"`
	}
	if !decodeBody(w, r, maxSQLBody, &req, `{"sql": "SELECT ...", "limit": N}`) {
		return
	}
	auditAsked(r, req.SQL)
	switch {
	case req.Limit == 0:
		req.Limit = DefaultSQLRows
	case req.Limit < 0 || req.Limit > MaxSQLRows:
		writeErr(w, http.StatusBadRequest, fmt.Errorf("limit must be from 1 to %d (default %d), got %d", MaxSQLRows, DefaultSQLRows, req.Limit))
		return
	}
	lim := store.Limits{Rows: req.Limit, Bytes: MaxAnswerBytes, Timeout: c.SQLTimeout}
	writeQuery(w, r, func(cols func([]string) error, row func([]any) error) (string, error) {
		return c.Store.AdminQuery(r.Context(), req.SQL, lim, cols, row)
	}, nil, http.StatusOK)
}

// stream runs yiwang's own SQL with args for a list route, a page of
// pg.limit rows (and the one after, to know whether there is a next page).
func (c Config) stream(r *http.Request, q string, pg *paging, args ...any) query {
	lim := store.Limits{Rows: pg.limit + 1, Bytes: MaxAnswerBytes, Timeout: listTimeout}
	if pg.bytes > 0 {
		lim.Bytes = pg.bytes
	}
	return func(cols func([]string) error, row func([]any) error) (string, error) {
		why, err := c.Store.StreamArgs(r.Context(), q, lim, cols, row, args...)
		if err != nil && !errors.Is(err, errPageFull) {
			err = internalError{err}
		}
		return why, err
	}
}

// defaultIndicatorWindow is how far back GET /api/v1/indicators reaches
// when neither from nor to is given.
const defaultIndicatorWindow = 400 * 24 * time.Hour

func (c Config) indicators(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := queries.IndicatorFilter{Area: q.Get("area"), Level: q.Get("level"), Scope: who(r).scope}
	if q.Get("name") == "" && f.Area == "" && f.Level == "" {
		// Nothing narrows the list: the streets' cells, not the 1.7
		// million cells of every grid and period a district holds.
		f.Level = string(queries.LevelStreet)
	}
	for _, n := range strings.Split(q.Get("name"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			f.Names = append(f.Names, n)
		}
	}
	if len(f.Names) > 100 {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("name lists at most 100 indicators, got %d", len(f.Names)))
		return
	}
	switch v := q.Get("descendants"); v {
	case "", "true":
	case "false":
		f.OnlyArea = true
	default:
		writeErr(w, http.StatusBadRequest, fmt.Errorf("descendants must be true or false, got %q", v))
		return
	}
	switch v := q.Get("mode"); v {
	case "", string(queries.Normal), string(queries.Emergency):
		f.Mode = v
	default:
		writeErr(w, http.StatusBadRequest, fmt.Errorf("mode must be normal or emergency, got %q", v))
		return
	}
	if q.Get("from") == "" && q.Get("to") == "" {
		// The last thirteen months unless asked otherwise: a year and the
		// month before, enough for every period's comparison.
		f.EndAfter = time.Now().Add(-defaultIndicatorWindow)
	}
	for _, p := range []struct {
		param string
		to    *time.Time
	}{{"from", &f.EndAfter}, {"to", &f.StartBefore}} {
		if v := q.Get(p.param); v != "" {
			t, err := time.ParseInLocation(time.DateOnly, v, calendar.Zone)
			if err != nil {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("%s must be a date YYYY-MM-DD, got %q", p.param, v))
				return
			}
			*p.to = t
		}
	}
	if v := q.Get("status"); v != "" {
		if v != "ok" && v != "warn" && v != "alert" {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("status must be ok, warn or alert, got %q", v))
			return
		}
		f.Status = v
	}
	pg, after, ok := pageParams(w, q, keyText, keyTime, keyText, keyText)
	if !ok {
		return
	}
	f.After = after
	pg.token = func(last []any) string { return encodeCursor(queries.IndicatorKey(last)) }
	pg.bytes = sharedPageBytes
	sqlText, args := queries.IndicatorQuery(f)
	writeQuery(w, r, c.stream(r, sqlText, pg, args...), pg, http.StatusOK)
}

// pageParams reads limit (1 to MaxPage, default DefaultPage) and after, the
// cursor of the page before, a key of values of these kinds.
func pageParams(w http.ResponseWriter, q url.Values, kinds ...keyKind) (*paging, []any, bool) {
	limit, err := intParam(q, "limit", DefaultPage, 1, MaxPage)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return nil, nil, false
	}
	var after []any
	if v := q.Get("after"); v != "" {
		if after, err = decodeCursor(v, kinds...); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return nil, nil, false
		}
	}
	return &paging{limit: limit}, after, true
}

// pageAfterID reads limit and after, the cursor of a list ordered by one
// text key, its first column: the key of the page before's last row.
func pageAfterID(w http.ResponseWriter, q url.Values) (*paging, string, bool) {
	pg, after, ok := pageParams(w, q, keyText)
	if !ok {
		return nil, "", false
	}
	from := ""
	if after != nil {
		from, _ = after[0].(string)
	}
	pg.token = func(last []any) string { return encodeCursor(last[:1]) }
	return pg, from, true
}

func (c Config) modes(w http.ResponseWriter, r *http.Request) {
	pg, from, ok := pageAfterID(w, r.URL.Query())
	if !ok {
		return
	}
	q, args := queries.ModesQuery(from, who(r).scope)
	writeQuery(w, r, c.stream(r, q, pg, args...), pg, http.StatusOK)
}

// maxDeadLetters bounds one list of dead letters.
const maxDeadLetters = 1000

func (c Config) deadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := deadletter.Filter{Source: q.Get("source"), Schema: q.Get("schema"), Reason: q.Get("reason"), Stage: q.Get("stage")}
	var err error
	if f.Limit, err = intParam(q, "limit", 100, 1, maxDeadLetters); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	dls, err := c.DeadLetters.List(r.Context(), f)
	if err != nil {
		writeErr(w, http.StatusBadGateway, err)
		return
	}
	if q.Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"partition", "offset", "time", "source", "schema", "stage", "reason", "field", "message", "position", "payload"})
		for _, d := range dls {
			_ = cw.Write([]string{strconv.Itoa(d.Partition), strconv.FormatInt(d.Offset, 10), d.Time.UTC().Format(time.RFC3339Nano),
				d.Source, d.Schema, d.Stage, d.Reason, d.Field, d.Message, d.Position, d.Payload})
		}
		cw.Flush()
		return
	}
	counts := map[string]map[string]int{}
	for _, d := range dls {
		if counts[d.Source] == nil {
			counts[d.Source] = map[string]int{}
		}
		counts[d.Source][d.Reason]++
	}
	if dls == nil {
		dls = []deadletter.Record{}
	}
	writeJSON(w, map[string]any{"deadletters": dls, "counts": counts})
}

func (c Config) missing(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target := q.Get("target")
	if target == "" {
		target = queries.TargetHousehold
	}
	if _, err := queries.MissingSQL(target); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	at := time.Now()
	if v := q.Get("at"); v != "" {
		d, err := time.ParseInLocation(time.DateOnly, v, calendar.Zone)
		if err != nil {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("at must be a date YYYY-MM-DD, got %q", v))
			return
		}
		at = d.AddDate(0, 0, 1) // the whole day
	}
	pg, after, ok := pageParams(w, q, keyText, keyText)
	if !ok {
		return
	}
	start, end, campaign := queries.CampaignOf(at.Add(-time.Nanosecond))
	sqlText, args, err := queries.MissingQuery(target, start, minTime(at, end), q.Get("area"), after, who(r).scope)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	pg.token = func(last []any) string { return encodeCursor([]any{last[1], last[0]}) }
	w.Header().Set("X-Yiwang-Campaign", campaign)
	writeQuery(w, r, c.stream(r, sqlText, pg, args...), pg, http.StatusOK)
}

// archive pages the emergency archive (急时档案): who turned out for each
// emergency reported from from to to (dates, Asia/Shanghai; default the
// last 90 days) under area.
func (c Config) archive(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	to := time.Now()
	from := to.AddDate(0, 0, -90)
	for _, p := range []struct {
		param string
		at    *time.Time
		days  int
	}{{"from", &from, 0}, {"to", &to, 1}} {
		if v := q.Get(p.param); v != "" {
			d, err := time.ParseInLocation(time.DateOnly, v, calendar.Zone)
			if err != nil {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("%s must be a date YYYY-MM-DD, got %q", p.param, v))
				return
			}
			*p.at = d.AddDate(0, 0, p.days) // to: the whole day
		}
	}
	pg, after, ok := pageParams(w, q, keyTime, keyText, keyText)
	if !ok {
		return
	}
	pg.token = func(last []any) string { return encodeCursor(queries.ArchiveKey(last)) }
	sqlText, args := queries.ArchiveQuery(from, to, q.Get("area"), after, who(r).scope)
	writeQuery(w, r, c.stream(r, sqlText, pg, args...), pg, http.StatusOK)
}

// anomalies pages the anomalies the rules flagged, the most recently
// changed first, by status, rule and area (and everything under it).
func (c Config) anomalies(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := anomaly.Filter{Status: q.Get("status"), Rule: q.Get("rule"), Area: q.Get("area"), Severity: q.Get("severity"), Within: who(r).scope}
	if f.Severity != "" && f.Severity != anomaly.SeverityWarning && f.Severity != anomaly.SeverityCritical {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("severity must be %s or %s, got %q", anomaly.SeverityWarning, anomaly.SeverityCritical, f.Severity))
		return
	}
	if f.Status != "" && f.Status != anomaly.StatusOpen && f.Status != anomaly.StatusResolved {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("status must be %s or %s, got %q", anomaly.StatusOpen, anomaly.StatusResolved, f.Status))
		return
	}
	pg, after, ok := pageParams(w, q, keyTime, keyText)
	if !ok {
		return
	}
	pg.token = func(last []any) string { return encodeCursor(anomaly.ListKey(last)) }
	sqlText, args := anomaly.ListQuery(f, after)
	writeQuery(w, r, c.stream(r, sqlText, pg, args...), pg, http.StatusOK)
}

// anomaly answers one anomaly with the records behind it (the drill-down):
// a page of one row, or of none for an unknown id.
func (c Config) anomaly(w http.ResponseWriter, r *http.Request) {
	pg := &paging{limit: 1}
	sqlText, args := anomaly.OneQuery(r.PathValue("id"), who(r).scope)
	writeQuery(w, r, c.stream(r, sqlText, pg, args...), pg, http.StatusOK)
}

// maxFiles bounds one page of GET /api/v1/files.
const maxFiles = 1000

func (c Config) files(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := q.Get("status")
	known := []string{filedrop.StatusLoaded, filedrop.StatusDuplicate, filedrop.StatusFailed, filedrop.StatusRefused}
	if status != "" && !slices.Contains(known, status) {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("status must be one of %s, got %q", strings.Join(known, ", "), status))
		return
	}
	limit, err := intParam(q, "limit", 100, 1, maxFiles)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	var after []any
	if v := q.Get("after"); v != "" {
		if after, err = decodeCursor(v, keyTime, keyText, keyText); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
	}
	reps, err := c.Files.Reports(r.Context(), q.Get("source"))
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	// Newest first, ties by source and stored name: the order the cursor
	// continues in, even when the file it names has moved meanwhile.
	key := func(r FileReport) [3]string {
		return [3]string{r.Finished.UTC().Format(time.RFC3339Nano), r.Source, r.StoredAs}
	}
	before := func(a, b [3]string) bool { // a comes before b in the list
		ta, _ := time.Parse(time.RFC3339Nano, a[0])
		tb, _ := time.Parse(time.RFC3339Nano, b[0])
		if !ta.Equal(tb) {
			return ta.After(tb)
		}
		return a[1] < b[1] || a[1] == b[1] && a[2] < b[2]
	}
	sort.SliceStable(reps, func(i, j int) bool { return before(key(reps[i]), key(reps[j])) })
	var from [3]string
	if after != nil {
		for i := range from {
			from[i] = after[i].(string)
		}
	}
	out := []FileReport{}
	var next any
	for _, rep := range reps {
		k := key(rep)
		if after != nil && !before(from, k) {
			continue // on or before the cursor
		}
		if status != "" && rep.Status != status {
			continue
		}
		if len(out) == limit {
			last := key(out[len(out)-1])
			next = encodeCursor([]any{last[0], last[1], last[2]})
			break
		}
		rep.RejectedRows = nil
		out = append(out, rep)
	}
	writeJSON(w, map[string]any{"files": out, "next": next})
}

func (c Config) fileReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	file := q.Get("file")
	if file == "" {
		writeErr(w, http.StatusBadRequest, errors.New("file is required: the name a file was dropped as, or its stored_as (done/…, failed/…)"))
		return
	}
	limit, err := intParam(q, "limit", DefaultPage, 1, MaxPage)
	if err == nil && q.Get("after") != "" {
		_, err = intParam(q, "after", 0, 0, 1<<31-1)
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	afterRow, _ := intParam(q, "after", 0, 0, 1<<31-1)
	rep, ok, err := c.Files.Report(r.Context(), q.Get("source"), file)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	if !ok {
		writeErr(w, http.StatusNotFound, fmt.Errorf("no finished file %q; GET /api/v1/files lists them", file))
		return
	}
	// A page of the rejected rows, by row number.
	rows := rep.RejectedRows
	i := sort.Search(len(rows), func(i int) bool { return rows[i].Row > afterRow })
	rows = rows[i:]
	var next any
	if len(rows) > limit {
		rows = rows[:limit]
		next = rows[limit-1].Row
	}
	rep.RejectedRows = rows
	writeJSON(w, struct {
		FileReport
		Next any `json:"next_after"`
	}{rep, next})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeErr answers an error as application/problem+json (RFC 9457),
// with the request's id. The error of yiwang's own doing (internalError)
// is logged, not sent: it may quote queries and values.
func writeErr(w http.ResponseWriter, code int, err error) {
	id := w.Header().Get("X-Request-Id")
	var own internalError
	if errors.As(err, &own) {
		slog.Error("request failed", "request_id", id, "err", own.err)
		err = fmt.Errorf("the server failed to answer; its log says why under request id %s", id)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(Problem{Type: "about:blank", Title: http.StatusText(code), Status: code, Detail: err.Error(), RequestID: id})
}

// Problem is an error answer (RFC 9457 problem details).
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id,omitempty"`
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
