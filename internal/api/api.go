// Package api serves yiwang's HTTP API: health, readiness, Prometheus
// metrics, the tables overview and read-only SQL for administrators.
//
// Routes:
//
//	GET  /healthz        200 while the process runs
//	GET  /readyz         200 once the loader runs, else 503
//	GET  /metrics        Prometheus exposition
//	GET  /api/v1/tables  row count and newest event time per table
//	POST /api/v1/sql     {"sql": "...", "limit": 1000} → JSON, or CSV with
//	                     ?format=csv or Accept: text/csv; needs
//	                     "Authorization: Bearer $YIWANG_ADMIN_TOKEN"
//	GET  /api/v1/indicators?name=&area=&level=&from=&to=&status=
//	                     indicator values (JSON, or CSV with ?format=csv): an
//	                     area and everything under it; suppressed cells carry
//	                     no numerator or denominator; each cell's status (ok,
//	                     warn, alert) against the thresholds of the mode its
//	                     area is in (status=alert lists the breaches)
//	POST /api/v1/indicators/run {"select": [...], "from": "2026-01-01", "to": "2026-12-01"}
//	                     recompute indicators for a date range; admin
//	GET  /api/v1/modes   every area's mode and the recent changes
//	POST /api/v1/modes   {"area": "220173002", "mode": "emergency", "reason": "..."}
//	                     switch an area between normal and emergency; admin
//	GET  /api/v1/deadletters?source=&schema=&reason=&stage=&limit=
//	                     the newest dead letters and their counts by source
//	                     and reason (JSON, or CSV with ?format=csv); admin
//	POST /api/v1/deadletters/replay {"source":..., "reason":..., "dry_run":true}
//	                     send matching dead letters back through validation;
//	                     admin
//	GET  /api/v1/doorknock/missing?target=household|store&area=&at=&limit=
//	                     who the door-knocking campaign containing at (default
//	                     now) has not reached yet under an area, with the
//	                     latest attempt (JSON, or CSV with ?format=csv); admin
//	GET  /api/v1/files?source=&status=&limit=      (status: loaded, duplicate, failed, refused)
//	                     the reports of the files each drop folder finished,
//	                     newest first, without their rejected rows; admin
//	GET  /api/v1/files/report?source=&file=
//	                     one file's whole report, every rejected row by row
//	                     number and reason; admin
//
// The package exports no metrics of its own.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// AdminToken guards POST /api/v1/sql; empty refuses every request
	// unless DemoAuth is set.
	AdminToken string
	// DemoAuth admits SQL without a token (the demo on a loopback address
	// with YIWANG_ADMIN_TOKEN unset).
	DemoAuth bool
	// Ready reports readiness.
	Ready func() bool
	// DeadLetters lists and replays dead letters; nil disables the routes.
	DeadLetters DeadLetterService
	// Indicators recomputes indicators; nil disables the route.
	Indicators IndicatorService
	// Modes switches areas between normal and emergency; nil disables
	// the route.
	Modes ModeService
	// Files reads the drop folders' per-file reports; nil disables the
	// routes.
	Files FileService
}

// FileService reads the per-file reports of the file-drop sources.
type FileService interface {
	// Reports returns the reports of source's finished files, newest
	// first; source "" means every file-drop source.
	Reports(ctx context.Context, source string) ([]FileReport, error)
}

// FileReport is one finished file's report and the source that read it.
type FileReport struct {
	Source string `json:"source"`
	filedrop.Report
}

// ModeService switches an area's mode (平急转换).
type ModeService interface {
	// SetMode records the switch; the scheduler sees it within its poll.
	SetMode(ctx context.Context, area string, mode queries.Mode, reason string) error
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
	List(ctx context.Context, f connectors.DeadLetterFilter) ([]connectors.DeadLetterRecord, error)
	// Replay sends the matching dead letters back through validation.
	Replay(ctx context.Context, f connectors.DeadLetterFilter, dryRun bool) (connectors.ReplayResult, error)
}

// New returns the server's handler.
func New(c Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if c.Ready != nil && !c.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(c.Metrics.Registry, promhttp.HandlerOpts{Registry: c.Metrics.Registry}))
	mux.HandleFunc("GET /api/v1/tables", func(w http.ResponseWriter, r *http.Request) {
		t, err := c.Store.Tables(r.Context(), c.Registry)
		if err != nil {
			writeErr(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, map[string]any{"tables": t})
	})
	mux.HandleFunc("POST /api/v1/sql", func(w http.ResponseWriter, r *http.Request) {
		if !c.admin(w, r, true, "") {
			return
		}
		var req struct {
			SQL   string `json:"sql"`
			Limit int    `json:"limit"`
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || (len(body) > 0 && body[0] == '{') {
			if err := json.Unmarshal(body, &req); err != nil {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("body must be {\"sql\": \"...\"}: %w", err))
				return
			}
		} else {
			req.SQL = string(body)
		}
		if req.Limit <= 0 || req.Limit > 100000 {
			req.Limit = 10000
		}
		res, err := c.Store.Query(r.Context(), req.SQL, req.Limit)
		if err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		writeResult(w, r, res)
	})
	mux.HandleFunc("GET /api/v1/indicators", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		where, args := []string{"true"}, []any{}
		if v := q.Get("name"); v != "" {
			where, args = append(where, "v.name = ?"), append(args, v)
		}
		if v := q.Get("area"); v != "" {
			where, args = append(where, "(v.area_code = ? OR (length(v.area_code) > length(?) AND starts_with(v.area_code, ?)))"), append(args, v, v, v)
		}
		if v := q.Get("level"); v != "" {
			where, args = append(where, "v.level = ?"), append(args, v)
		}
		for _, p := range []struct{ param, cond string }{{"from", "v.period_end > ?"}, {"to", "v.period_start < ?"}} {
			if v := q.Get(p.param); v != "" {
				t, err := time.ParseInLocation(time.DateOnly, v, shanghai)
				if err != nil {
					writeErr(w, http.StatusBadRequest, fmt.Errorf("%s must be a date YYYY-MM-DD, got %q", p.param, v))
					return
				}
				where, args = append(where, p.cond), append(args, t)
			}
		}
		if v := q.Get("status"); v != "" {
			if v != "ok" && v != "warn" && v != "alert" {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("status must be ok, warn or alert, got %q", v))
				return
			}
			where, args = append(where, "v.status = ?"), append(args, v)
		}
		sqlText := `SELECT v.name, v.level, v.area_code, coalesce(a.name, g.name) AS area_name, v.period_start, v.period_end,
  v.numerator, v.denominator, v.value, v.suppressed, v.provisional, v.mode, v.status, v.warn, v.alert,
  v.inputs_fresh_at, v.run_id, v.version
FROM indicator_status v
LEFT JOIN areas a ON a.code = v.area_code AND v.level <> 'gov_unit'
LEFT JOIN gov_units g ON g.unit_id = v.area_code AND v.level = 'gov_unit'
WHERE ` + strings.Join(where, " AND ") + ` ORDER BY v.name, v.period_start, v.level, v.area_code`
		res, err := c.Store.QueryArgs(r.Context(), sqlText, 100000, args...)
		if err != nil {
			writeErr(w, http.StatusInternalServerError, err)
			return
		}
		writeResult(w, r, res)
	})
	mux.HandleFunc("POST /api/v1/indicators/run", func(w http.ResponseWriter, r *http.Request) {
		if !c.admin(w, r, c.Indicators != nil, "indicators are not computed") {
			return
		}
		var req struct {
			Select   []string `json:"select"`
			From, To string
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, fmt.Errorf(`body must be {"select": [...], "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}: %w`, err))
			return
		}
		from, err1 := time.ParseInLocation(time.DateOnly, req.From, shanghai)
		to, err2 := time.ParseInLocation(time.DateOnly, req.To, shanghai)
		if err1 != nil || err2 != nil || !to.After(from) {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("from and to must be dates YYYY-MM-DD with to after from, got %q and %q", req.From, req.To))
			return
		}
		res, err := c.Indicators.Run(r.Context(), req.Select, from, to)
		if err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, res)
	})
	mux.HandleFunc("GET /api/v1/modes", func(w http.ResponseWriter, r *http.Request) {
		res, err := c.Store.QueryArgs(r.Context(), `SELECT m.area_code, a.name, a.level, m.mode, m.changed_at, m.reason,
  (SELECT list({'mode': h.mode, 'changed_at': h.changed_at, 'reason': h.reason} ORDER BY h.changed_at DESC)[1:10]
     FROM area_mode_changes h WHERE h.area_code = m.area_code) AS recent_changes
FROM area_modes m LEFT JOIN areas a ON a.code = m.area_code ORDER BY m.area_code`, 10000)
		if err != nil {
			writeErr(w, http.StatusInternalServerError, err)
			return
		}
		writeResult(w, r, res)
	})
	mux.HandleFunc("POST /api/v1/modes", func(w http.ResponseWriter, r *http.Request) {
		if !c.admin(w, r, c.Modes != nil, "modes are not kept") {
			return
		}
		var req struct{ Area, Mode, Reason string }
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, fmt.Errorf(`body must be {"area", "mode", "reason"}: %w`, err))
			return
		}
		if err := c.Modes.SetMode(r.Context(), req.Area, queries.Mode(req.Mode), req.Reason); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, map[string]string{"area": req.Area, "mode": req.Mode})
	})
	mux.HandleFunc("GET /api/v1/deadletters", func(w http.ResponseWriter, r *http.Request) {
		if !c.admin(w, r, c.DeadLetters != nil, "dead letters are not available") {
			return
		}
		q := r.URL.Query()
		f := connectors.DeadLetterFilter{Source: q.Get("source"), Schema: q.Get("schema"), Reason: q.Get("reason"), Stage: q.Get("stage")}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("limit must be a positive whole number, got %q", l))
				return
			}
			f.Limit = n
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
			dls = []connectors.DeadLetterRecord{}
		}
		writeJSON(w, map[string]any{"deadletters": dls, "counts": counts})
	})
	mux.HandleFunc("POST /api/v1/deadletters/replay", func(w http.ResponseWriter, r *http.Request) {
		if !c.admin(w, r, c.DeadLetters != nil, "dead letters are not available") {
			return
		}
		var req struct {
			Source, Schema, Reason, Stage string
			Limit                         int
			DryRun                        bool `json:"dry_run"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, fmt.Errorf(`body must be {"source", "schema", "reason", "stage", "limit", "dry_run"}: %w`, err))
			return
		}
		res, err := c.DeadLetters.Replay(r.Context(), connectors.DeadLetterFilter{Source: req.Source, Schema: req.Schema,
			Reason: req.Reason, Stage: req.Stage, Limit: req.Limit}, req.DryRun)
		if err != nil {
			writeErr(w, http.StatusBadGateway, err)
			return
		}
		writeJSON(w, res)
	})
	mux.HandleFunc("GET /api/v1/doorknock/missing", func(w http.ResponseWriter, r *http.Request) {
		if !c.admin(w, r, true, "") {
			return
		}
		q := r.URL.Query()
		target := q.Get("target")
		if target == "" {
			target = queries.TargetHousehold
		}
		sqlText, err := queries.MissingSQL(target)
		if err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		at := time.Now()
		if v := q.Get("at"); v != "" {
			d, err := time.ParseInLocation(time.DateOnly, v, shanghai)
			if err != nil {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("at must be a date YYYY-MM-DD, got %q", v))
				return
			}
			at = d.AddDate(0, 0, 1) // the whole day
		}
		limit := 100000
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > 100000 {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("limit must be 1-100000, got %q", l))
				return
			}
			limit = n
		}
		start, end, campaign := queries.CampaignOf(at.Add(-time.Nanosecond))
		res, err := c.Store.QueryArgs(r.Context(), sqlText, limit, start, minTime(at, end), q.Get("area"))
		if err != nil {
			writeErr(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("X-Yiwang-Campaign", campaign)
		writeResult(w, r, res)
	})
	mux.HandleFunc("GET /api/v1/files", func(w http.ResponseWriter, r *http.Request) {
		if !c.admin(w, r, c.Files != nil, "no file-drop source runs") {
			return
		}
		q := r.URL.Query()
		status := q.Get("status")
		known := []string{filedrop.StatusLoaded, filedrop.StatusDuplicate, filedrop.StatusFailed, filedrop.StatusRefused}
		if status != "" && !slices.Contains(known, status) {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("status must be one of %s, got %q", strings.Join(known, ", "), status))
			return
		}
		limit := 100
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("limit must be a positive whole number, got %q", l))
				return
			}
			limit = n
		}
		reps, err := c.Files.Reports(r.Context(), q.Get("source"))
		if err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		out := []FileReport{}
		for _, rep := range reps {
			if status != "" && rep.Status != status {
				continue
			}
			if len(out) == limit {
				break
			}
			rep.RejectedRows = nil
			out = append(out, rep)
		}
		writeJSON(w, map[string]any{"files": out})
	})
	mux.HandleFunc("GET /api/v1/files/report", func(w http.ResponseWriter, r *http.Request) {
		if !c.admin(w, r, c.Files != nil, "no file-drop source runs") {
			return
		}
		q := r.URL.Query()
		file := q.Get("file")
		if file == "" {
			writeErr(w, http.StatusBadRequest, errors.New("file is required: the name a file was dropped as, or its stored_as (done/…, failed/…)"))
			return
		}
		reps, err := c.Files.Reports(r.Context(), q.Get("source"))
		if err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		for _, rep := range reps { // newest first: a name dropped twice shows its latest report
			if rep.StoredAs == file || rep.File == file {
				writeJSON(w, rep)
				return
			}
		}
		writeErr(w, http.StatusNotFound, fmt.Errorf("no finished file %q; GET /api/v1/files lists them", file))
	})
	return mux
}

// admin answers 404 when the route's service is not wired in this process
// (missing says what), else 401 unless the request may use the
// administrator's routes.
func (c Config) admin(w http.ResponseWriter, r *http.Request, wired bool, missing string) bool {
	if !wired {
		writeErr(w, http.StatusNotFound, errors.New(missing+" in this process"))
		return false
	}
	if !c.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="yiwang"`)
		writeErr(w, http.StatusUnauthorized, errors.New("this route needs Authorization: Bearer <YIWANG_ADMIN_TOKEN>"))
		return false
	}
	return true
}

func (c Config) authorized(r *http.Request) bool {
	if c.AdminToken == "" {
		return c.DemoAuth
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(c.AdminToken)) == 1
}

var shanghai = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return l
	}
	return time.FixedZone("CST", 8*3600)
}()

// writeResult answers a query result as JSON, or as CSV when asked with
// ?format=csv or Accept: text/csv.
func writeResult(w http.ResponseWriter, r *http.Request, res *store.Result) {
	if r.URL.Query().Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv") {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		_ = cw.Write(res.Columns)
		for _, row := range res.Rows {
			rec := make([]string, len(row))
			for i, v := range row {
				if v != nil {
					rec[i] = fmt.Sprint(v)
				}
			}
			_ = cw.Write(rec)
		}
		cw.Flush()
		return
	}
	writeJSON(w, res)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
