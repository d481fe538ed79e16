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
//
// The package exports no metrics of its own.
package api

import (
	"crypto/subtle"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	return mux
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
