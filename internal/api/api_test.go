package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/yiwang-gov/yiwang/internal/audit"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

func server(t *testing.T, c Config) *httptest.Server {
	t.Helper()
	ts, _ := serverStore(t, c)
	return ts
}

func serverStore(t testing.TB, c Config) (*httptest.Server, *store.Store) {
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
	if c.Audit, err = audit.Open(context.Background(), st); err != nil {
		t.Fatal(err)
	}
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
	ts := server(t, Config{AdminToken: "tok", Ready: func() bool { return ready }})
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
	if code, _ := do(t, "GET", ts.URL+"/api/v1/tables", "", ""); code != 401 {
		t.Errorf("tables without a token: HTTP %d, want 401", code)
	}
	code, body := do(t, "GET", ts.URL+"/api/v1/tables", "tok", "")
	if code != 200 || !strings.Contains(body, `"table": "grid_events"`) {
		t.Errorf("tables: %d %s", code, body)
	}
	code, body = do(t, "GET", ts.URL+"/metrics", "", "")
	if code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics: %d", code)
	}
}

// The emergency archive over HTTP: the admin's, in pages whose cursor
// reaches every card once, with the member's pseudonym only.
func TestEmergencyArchiveRoute(t *testing.T) {
	ts, st := serverStore(t, Config{AdminToken: "tok"})
	db := st.DB()
	if _, err := db.Exec(`INSERT INTO grid_events (event_id, source, category_major, urgency, grid_code, status, reported_at, updated_at)
SELECT 'E' || i, 'resident', '08', 'urgent', '220173002001001', 'closed', TIMESTAMPTZ '2026-07-01 00:00:00+08' + to_hours(CAST(i AS INTEGER)), now()
FROM range(5) t(i)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO team_records (record_id, team_type, team_id, member_id_number_key, area_code, work_date, hours, task_type, event_id, recorded_at, updated_at)
SELECT 'T' || i, 'fire_team', 'PHD220173002', 'key' || i, '220173002001001', DATE '2026-07-01', 2, 'emergency_duty', 'E' || (i % 4), now(), now()
FROM range(9) t(i)`); err != nil {
		t.Fatal(err)
	}
	if code, _ := do(t, "GET", ts.URL+"/api/v1/emergencies/archive?from=2026-07-01&to=2026-07-31", "", ""); code != 401 {
		t.Errorf("without the token: HTTP %d, want 401", code)
	}
	seen := map[string]int{}
	next, pages := "", 0
	for pages < 20 {
		u := ts.URL + "/api/v1/emergencies/archive?from=2026-07-01&to=2026-07-31&area=220173002&limit=3"
		if next != "" {
			u += "&after=" + next
		}
		code, body := do(t, "GET", u, "tok", "")
		if code != 200 {
			t.Fatalf("HTTP %d %s", code, body)
		}
		var page struct {
			Columns []string
			Rows    [][]any
			Next    *string
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Rows {
			seen[fmt.Sprint(r[1], "/", r[6])]++
		}
		if page.Next == nil {
			break
		}
		next = *page.Next
	}
	// 9 cards over E0–E3, and E4 with nobody: 10 rows, each once.
	if len(seen) != 10 || seen["E4/<nil>"] != 1 || seen["E0/T8"] != 1 {
		t.Errorf("rows %v in %d pages, want the 9 cards and E4 once each", seen, pages)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s %d times", k, n)
		}
	}
	if code, body := do(t, "GET", ts.URL+"/api/v1/emergencies/archive?from=July", "tok", ""); code != 400 || !strings.Contains(body, "YYYY-MM-DD") {
		t.Errorf("bad date: HTTP %d %s", code, body)
	}
}
