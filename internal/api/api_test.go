package api

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

func server(t *testing.T, c Config) *httptest.Server {
	t.Helper()
	ts, _ := serverStore(t, c)
	return ts
}

func serverStore(t *testing.T, c Config) (*httptest.Server, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir()+"/a.duckdb", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := schemas.LoadEmbedded()
	if err := st.MigrateSchemas(context.Background(), reg); err != nil {
		t.Fatal(err)
	}
	c.Store, c.Registry, c.Metrics = st, reg, metrics.New()
	ts := httptest.NewUnstartedServer(nil)
	c.Listen = ts.Listener.Addr().String()
	ts.Config.Handler = New(c)
	ts.Start()
	t.Cleanup(func() { ts.Close(); _ = st.Close() })
	return ts, st
}

func do(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	h := map[string]string{}
	if method == "POST" {
		h["Content-Type"] = "application/json"
	}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return send(t, method, url, h, body)
}

func TestSQLNeedsTheAdminToken(t *testing.T) {
	ts := server(t, Config{AdminToken: "s3cret"})
	for _, tc := range []struct {
		token string
		code  int
	}{{"", 401}, {"wrong", 401}, {"s3cret", 200}} {
		code, body := do(t, "POST", ts.URL+"/api/v1/sql", tc.token, `{"sql":"select 42 as n"}`)
		if code != tc.code {
			t.Errorf("token %q: HTTP %d %s, want %d", tc.token, code, body, tc.code)
		}
	}
	code, body := do(t, "POST", ts.URL+"/api/v1/sql?format=csv", "s3cret", `{"sql":"select 1 as a, 'x,y' as b"}`)
	if code != 200 || body != "a,b\n1,\"x,y\"\n" {
		t.Errorf("csv: %d %q", code, body)
	}
	code, body = do(t, "POST", ts.URL+"/api/v1/sql", "s3cret", `{"sql":"drop table areas"}`)
	if code != 400 || !strings.Contains(body, "SELECT") {
		t.Errorf("write statement: %d %s", code, body)
	}
}

// Without a token configured the administrator's routes are closed, on
// loopback as anywhere: the demo makes one up instead.
func TestNoTokenClosesAdminRoutes(t *testing.T) {
	ts := server(t, Config{})
	for _, route := range []string{"/api/v1/sql", "/api/v1/modes", "/api/v1/indicators/run", "/api/v1/deadletters/replay"} {
		if code, body := do(t, "POST", ts.URL+route, "", `{"sql":"select 1"}`); code != 401 && code != 404 {
			t.Errorf("%s without a configured token: HTTP %d %s, want 401", route, code, body)
		}
	}
}

func TestHealthReadyTablesMetrics(t *testing.T) {
	ready := false
	ts := server(t, Config{Ready: func() bool { return ready }})
	if code, _ := do(t, "GET", ts.URL+"/healthz", "", ""); code != 200 {
		t.Error("healthz")
	}
	if code, _ := do(t, "GET", ts.URL+"/readyz", "", ""); code != 503 {
		t.Error("readyz before ready")
	}
	ready = true
	if code, _ := do(t, "GET", ts.URL+"/readyz", "", ""); code != 200 {
		t.Error("readyz when ready")
	}
	code, body := do(t, "GET", ts.URL+"/api/v1/tables", "", "")
	if code != 200 || !strings.Contains(body, `"table": "grid_events"`) {
		t.Errorf("tables: %d %s", code, body)
	}
	code, body = do(t, "GET", ts.URL+"/metrics", "", "")
	if code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics: %d", code)
	}
}
