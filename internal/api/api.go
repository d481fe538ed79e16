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
//	GET  /api/v1/deadletters?source=&schema=&reason=&stage=&limit=
//	                     the newest dead letters and their counts by source
//	                     and reason (JSON, or CSV with ?format=csv); admin
//	POST /api/v1/deadletters/replay {"source":..., "reason":..., "dry_run":true}
//	                     send matching dead letters back through validation;
//	                     admin
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
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
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
		if !c.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="yiwang"`)
			writeErr(w, http.StatusUnauthorized, errors.New("POST /api/v1/sql needs Authorization: Bearer <YIWANG_ADMIN_TOKEN>"))
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
	})
	mux.HandleFunc("GET /api/v1/deadletters", func(w http.ResponseWriter, r *http.Request) {
		if !c.admin(w, r) {
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
		if !c.admin(w, r) {
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
	return mux
}

// admin answers 401 (or 404 when dead letters are not wired) unless the
// request may use the administrator's routes.
func (c Config) admin(w http.ResponseWriter, r *http.Request) bool {
	if c.DeadLetters == nil {
		writeErr(w, http.StatusNotFound, errors.New("dead letters are not available in this process"))
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
