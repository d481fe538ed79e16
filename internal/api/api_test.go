package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

func server(t *testing.T, c Config) *httptest.Server {
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
	ts := httptest.NewServer(New(c))
	t.Cleanup(func() { ts.Close(); _ = st.Close() })
	return ts
}

func do(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
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
	code, body := do(t, "POST", ts.URL+"/api/v1/sql?format=csv", "s3cret", "select 1 as a, 'x,y' as b")
	if code != 200 || body != "a,b\n1,\"x,y\"\n" {
		t.Errorf("csv: %d %q", code, body)
	}
	code, body = do(t, "POST", ts.URL+"/api/v1/sql", "s3cret", `{"sql":"drop table areas"}`)
	if code != 400 || !strings.Contains(body, "read-only") {
		t.Errorf("write statement: %d %s", code, body)
	}
}

func TestDemoAuthAndNoToken(t *testing.T) {
	// Without a token and outside the demo, SQL is refused outright.
	ts := server(t, Config{})
	if code, _ := do(t, "POST", ts.URL+"/api/v1/sql", "", `{"sql":"select 1"}`); code != 401 {
		t.Errorf("no token configured: HTTP %d, want 401", code)
	}
	demo := server(t, Config{DemoAuth: true})
	if code, body := do(t, "POST", demo.URL+"/api/v1/sql", "", `{"sql":"select 1"}`); code != 200 {
		t.Errorf("demo: HTTP %d %s", code, body)
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
