package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/queries"
)

// recordingModes remembers the switches asked for.
type recordingModes struct {
	mu    sync.Mutex
	calls []string
}

func (m *recordingModes) SetMode(_ context.Context, area string, mode queries.Mode, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, area+"="+string(mode))
	return nil
}

func send(t *testing.T, method, u string, header map[string]string, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Finding 7: a web page could switch an area to emergency and run SQL
// through the demo's loopback no-token mode, with a text/plain form post
// from another origin. Now a state-changing request must be JSON, from no
// other origin, to a Host the server answers for, with the token.
func TestCrossSiteRequestsAreRefused(t *testing.T) {
	m := &recordingModes{}
	ts := server(t, Config{AdminToken: "tok", Modes: m})
	body := `{"area":"220173002","mode":"emergency","reason":"x"}`
	auth := "Bearer tok"
	host := strings.TrimPrefix(ts.URL, "http://")
	for _, tc := range []struct {
		name   string
		header map[string]string
		code   int
	}{
		{"text/plain form from another origin, no token (the probe)", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403},
		{"text/plain with the token", map[string]string{"Content-Type": "text/plain", "Authorization": auth}, 415},
		{"no content type", map[string]string{"Authorization": auth}, 415},
		{"JSON from another origin, with the token", map[string]string{"Origin": "http://evil.example", "Content-Type": "application/json", "Authorization": auth}, 403},
		{"a browser's cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json", "Authorization": auth}, 403},
		{"DNS rebinding: another host name", map[string]string{"Host": "evil.example:" + strings.Split(host, ":")[1], "Origin": "http://evil.example:" + strings.Split(host, ":")[1], "Content-Type": "application/json", "Authorization": auth}, 421},
		{"JSON without the token", map[string]string{"Content-Type": "application/json"}, 401},
		{"same origin, JSON, token", map[string]string{"Origin": ts.URL, "Content-Type": "application/json", "Authorization": auth}, 200},
		{"a command-line client, JSON, token", map[string]string{"Content-Type": "application/json; charset=utf-8", "Authorization": auth}, 200},
	} {
		code, resp := send(t, "POST", ts.URL+"/api/v1/modes", tc.header, body)
		if code != tc.code {
			t.Errorf("%s: HTTP %d %s, want %d", tc.name, code, resp, tc.code)
		}
	}
	if len(m.calls) != 2 {
		t.Errorf("switches carried out: %v, want the two accepted ones", m.calls)
	}
	// SQL sent as text/plain ran too.
	if code, resp := send(t, "POST", ts.URL+"/api/v1/sql", map[string]string{"Content-Type": "text/plain", "Authorization": auth}, "select 1"); code != 415 {
		t.Errorf("SQL as text/plain: HTTP %d %s, want 415", code, resp)
	}
}

// Finding 2 (body) and 8: a body over 1 MiB was cut and its prefix run;
// duplicated keys and trailing garbage were accepted; limits out of range
// were replaced silently.
func TestBodiesAndLimitsAreChecked(t *testing.T) {
	m := &recordingModes{}
	ts := server(t, Config{AdminToken: "tok", Modes: m, Files: noFiles{}})
	big := `{"sql":"select 1 -- ` + strings.Repeat("x", 1<<20) + `"}`
	for _, tc := range []struct {
		route, body string
		code        int
		says        string
	}{
		{"/api/v1/sql", big, 413, "larger than"},
		{"/api/v1/sql", `{"sql":"select 1","sql":"select 2"}`, 400, "twice"},
		{"/api/v1/sql", `{"sql":"select 1","SQL":"select 2"}`, 400, "twice"},
		// encoding/json folds ſ to s: the second key would replace the first.
		{"/api/v1/sql", `{"sql":"select 1","ſql":"select 2"}`, 400, "ASCII"},
		{"/api/v1/sql", `{"sql":"select 1"} garbage`, 400, "after the JSON value"},
		{"/api/v1/sql", `{"sql":"select 1"}{"sql":"select 2"}`, 400, "after the JSON value"},
		{"/api/v1/sql", `{"sql":"select 1","limt":5}`, 400, "unknown field"},
		{"/api/v1/sql", `{"sql":"select 1","limit":-1}`, 400, "limit must be"},
		{"/api/v1/sql", `{"sql":"select 1","limit":100001}`, 400, "limit must be"},
		{"/api/v1/modes", `{"area":"220173002","mode":"emergency","area":"220173003"}`, 400, "twice"},
		{"/api/v1/modes", `{"area":"220173002","mode":"emergency"}]`, 400, "after the JSON value"},
	} {
		code, resp := send(t, "POST", ts.URL+tc.route, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer tok"}, tc.body)
		if code != tc.code || !strings.Contains(resp, tc.says) {
			t.Errorf("%s %.60s: HTTP %d %.200s, want %d saying %q", tc.route, tc.body, code, resp, tc.code, tc.says)
		}
	}
	if len(m.calls) != 0 {
		t.Errorf("a refused body switched a mode: %v", m.calls)
	}
	for _, q := range []string{"/api/v1/indicators?limit=0", "/api/v1/indicators?limit=10001", "/api/v1/indicators?limit=-5", "/api/v1/indicators?limit=x",
		"/api/v1/indicators?after=bogus", "/api/v1/files?limit=0", "/api/v1/files?limit=1001", "/api/v1/modes?limit=100000",
		"/api/v1/doorknock/missing?limit=0", "/api/v1/files/report?file=a.csv&limit=0"} {
		code, resp := send(t, "GET", ts.URL+q, map[string]string{"Authorization": "Bearer tok"}, "")
		if code != 400 || !strings.Contains(resp, "must be") {
			t.Errorf("%s: HTTP %d %s, want 400", q, code, resp)
		}
	}
}

type noFiles struct{}

func (noFiles) Reports(context.Context, string) ([]FileReport, error) { return nil, nil }
func (noFiles) Report(context.Context, string, string) (FileReport, bool, error) {
	return FileReport{}, false, nil
}

// Finding 3: one unfiltered GET /api/v1/indicators answered every row at
// once (64,330 rows, 24.5 MB). Now it answers pages of at most 10,000 rows
// with a cursor to the next, and every row comes exactly once, in order.
func TestIndicatorsArePaged(t *testing.T) {
	ts, st := serverStore(t, Config{AdminToken: "tok"})
	db := st.DB()
	ctx := context.Background()
	// A stand-in for the status view, with its columns.
	if _, err := db.ExecContext(ctx, `CREATE TABLE indicator_status AS
SELECT 'ind_' || (i % 3) AS name, 'grid' AS level, '220173002' || lpad(CAST(i % 500 AS VARCHAR), 6, '0') AS area_code,
  now() - to_days(CAST(i // 1500 AS INTEGER)) - INTERVAL 1 DAY AS period_start, now() - to_days(CAST(i // 1500 AS INTEGER)) AS period_end,
  i AS numerator, 1000 AS denominator, i / 1000.0 AS value, false AS suppressed, false AS provisional, 'normal' AS mode,
  'ok' AS status, NULL::DOUBLE AS warn, NULL::DOUBLE AS alert, now() AS inputs_fresh_at, 'r1' AS run_id, 1 AS version
FROM range(4500) t(i)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE indicator_notes (name VARCHAR, period_start TIMESTAMPTZ, needs_from TIMESTAMPTZ, data_from TIMESTAMPTZ)`); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var prev string
	pages := 0
	q := url.Values{"limit": {"1000"}, "level": {"grid"}}
	for {
		code, body := send(t, "GET", ts.URL+"/api/v1/indicators?"+q.Encode(), map[string]string{"Authorization": "Bearer tok"}, "")
		if code != 200 {
			t.Fatalf("page %d: HTTP %d %s", pages, code, body)
		}
		var page struct {
			Columns []string
			Rows    [][]any
			Next    *string
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		if len(page.Rows) > 1000 {
			t.Fatalf("page %d has %d rows, limit 1000", pages, len(page.Rows))
		}
		for _, r := range page.Rows {
			key := fmt.Sprint(r[0], "|", r[4], "|", r[1], "|", r[2])
			if seen[key] {
				t.Fatalf("row %s twice", key)
			}
			if key <= prev && r[0] == strings.Split(prev, "|")[0] {
				t.Fatalf("row %s after %s: out of order", key, prev)
			}
			seen[key], prev = true, key
		}
		if page.Next == nil {
			break
		}
		q.Set("after", *page.Next)
	}
	if len(seen) != 4500 || pages != 5 {
		t.Errorf("%d distinct rows in %d pages, want 4500 in 5 (the last one empty-ended)", len(seen), pages)
	}
	// The typed client reads every page and finds the columns by name.
	cells, err := (&Client{Server: ts.URL, Token: "tok"}).Indicators(ctx, url.Values{"name": {"ind_1"}, "limit": {"700"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 1500 {
		t.Fatalf("the client read %d cells of ind_1, want 1500", len(cells))
	}
	for _, c := range cells {
		if c.Name != "ind_1" || c.Level != "grid" || c.Value == nil || *c.Value != *c.Numerator/1000 || *c.Denominator != 1000 ||
			c.Status != "ok" || c.Mode != "normal" || c.PeriodStart.IsZero() || !c.PeriodEnd.After(c.PeriodStart) || c.Warn != nil {
			t.Fatalf("cell %+v", c)
		}
	}
	// CSV pages carry the next cursor in a trailer.
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/indicators?format=csv&limit=10&level=grid", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	next := resp.Header.Get("X-Yiwang-Next") // a shared answer has it as a header
	if next == "" {
		next = resp.Trailer.Get("X-Yiwang-Next")
	}
	if lines := strings.Count(string(b), "\n"); lines != 11 || next == "" {
		t.Errorf("CSV page: %d lines, next %q", lines, next)
	}
}

// Finding 3 (concurrency): costly requests beyond the slots wait, then
// are answered 503 with Retry-After; health checks never wait.
func TestLimiterShedsAndHealthNeverWaits(t *testing.T) {
	l := newLimiter(1, 20*time.Millisecond)
	release, entered := make(chan struct{}), make(chan struct{})
	h := l.wrap(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	done := make(chan struct{})
	go func() {
		h(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		close(done)
	}()
	<-entered // the only slot is taken until release
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("second request while the slot is held: %d %v", rec.Code, rec.Header())
	}
	close(release)
	<-done
	go func() { <-entered }()
	rec = httptest.NewRecorder()
	h(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 {
		t.Errorf("after release: %d", rec.Code)
	}
}

// Finding 8: the server had no read or idle timeout (a body trickled over
// 36 s answered 200; idle keep-alives were held for 70 s). A body that
// does not arrive within the read timeout is refused.
func TestServerTimeouts(t *testing.T) {
	srv := NewServer(nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Fatalf("timeouts unset: %+v", srv)
	}
	if srv.ReadTimeout > 30*time.Second || srv.IdleTimeout > time.Minute {
		t.Errorf("read timeout %s, idle %s: too long to protect the server", srv.ReadTimeout, srv.IdleTimeout)
	}
	m := &recordingModes{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv = NewServer(New(Config{AdminToken: "tok", Modes: m, Listen: ln.Addr().String(), Metrics: metrics.New()}))
	srv.ReadTimeout = 300 * time.Millisecond // the same mechanism, faster
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"area":"220173002","mode":"emergency"}`
	fmt.Fprintf(c, "POST /api/v1/modes HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", ln.Addr(), len(body), body[:5])
	// Never send the rest: the server gives up on the body.
	b, _ := io.ReadAll(c)
	if strings.Contains(string(b), " 200 ") || len(m.calls) != 0 {
		t.Errorf("a body that never finished was accepted: %q %v", b, m.calls)
	}
}

// Identical requests in flight share one answer: one query for many
// dashboards polling the same page.
func TestIdenticalRequestsShareOneAnswer(t *testing.T) {
	f := newFlights(2, "name", "area")
	slots := newLimiter(2, time.Second)
	var calls atomic.Int32
	release := make(chan struct{})
	h := func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-release
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"rows":[]}`)
	}
	const n = 50
	var wg sync.WaitGroup
	bodies := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			f.do(rec, httptest.NewRequest("GET", fmt.Sprintf("/api/v1/indicators?name=a&area=2201&nocache=%d", i), nil), slots, h)
			bodies[i] = rec.Body.String()
		}()
	}
	for { // until the other 49 wait for the first
		f.mu.Lock()
		waiting := 0
		for _, fl := range f.m {
			waiting = fl.refs
		}
		f.mu.Unlock()
		if waiting == n {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("%d computations for %d identical requests", calls.Load(), n)
	}
	for i, b := range bodies {
		if b != `{"rows":[]}` {
			t.Fatalf("request %d got %q", i, b)
		}
	}
	// A different query is its own.
	rec := httptest.NewRecorder()
	f.do(rec, httptest.NewRequest("GET", "/api/v1/indicators?name=b", nil), slots, h)
	if calls.Load() != 2 {
		t.Errorf("a different query shared an answer")
	}
}

// Findings 1 and 2 against a running server: the statements that
// overwrote the database file or ran DML behind EXPLAIN and WITH are
// refused; a cross join with a large limit and a query whose rows are
// expensive answer their first rows at once, capped; a never-ending
// recursive query ends at the statement timeout; the database is intact
// and answers afterwards.
func TestAdminSQLAgainstTheProbe(t *testing.T) {
	ts, st := serverStore(t, Config{AdminToken: "tok", SQLTimeout: time.Second})
	db := st.Path()
	sqlReq := func(q string, limit int) (int, map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"sql": q, "limit": limit})
		code, resp := send(t, "POST", ts.URL+"/api/v1/sql", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer tok"}, string(body))
		var out map[string]any
		if err := json.Unmarshal([]byte(resp), &out); err != nil {
			t.Fatalf("%s: %v in %.300s", q, err, resp)
		}
		return code, out
	}
	for _, q := range []string{
		"EXPLAIN ANALYZE COPY (select 'x') TO '" + db + "' (FORMAT csv, USE_TMP_FILE false)",
		"EXPLAIN ANALYZE COPY (select 'x') TO '" + db + ".wal.recovery' (FORMAT csv)",
		"SELECT * FROM read_blob('" + db + "')",
		"WITH x AS (select 1) DELETE FROM grid_events",
		"WITH x AS (select 1) UPDATE load_offsets SET next_offset=0 RETURNING *",
		"EXPLAIN ANALYZE DROP TABLE grid_events",
		"FROM checkpoint()",
		"EXPLAIN ANALYZE CHECKPOINT",
		"EXPLAIN ANALYZE VACUUM",
		"EXPLAIN ANALYZE PRAGMA enable_profiling",
	} {
		if code, out := sqlReq(q, 10); code != 400 {
			t.Errorf("%s: HTTP %d %v, want 400", q, code, out)
		}
	}
	// A cross join of two million-row ranges with a large limit.
	code, out := sqlReq("SELECT * FROM range(1000000) a, range(1000000) b", 100000)
	if code != 200 || len(out["rows"].([]any)) != 100000 || out["truncated"] != true {
		t.Errorf("cross join: HTTP %d, %d rows, truncated %v", code, len(out["rows"].([]any)), out["truncated"])
	}
	code, out = sqlReq("select range, md5(range::varchar) from range(10000000)", 1)
	if code != 200 || len(out["rows"].([]any)) != 1 || out["truncated_by"] != "rows" {
		t.Errorf("10 M md5 rows, limit 1: HTTP %d %v", code, out)
	}
	code, out = sqlReq("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM t) SELECT count(*) FROM t", 10)
	if code != 504 || !strings.Contains(fmt.Sprint(out["detail"]), "deadline") {
		t.Errorf("never-ending recursive query: HTTP %d %v, want 504 at the timeout", code, out)
	}
	if code, out = sqlReq("SELECT count(*) AS n FROM grid_events", 10); code != 200 {
		t.Errorf("after the probe: HTTP %d %v", code, out)
	}
}

// A shared answer survives its first requester leaving: the others get
// it whole.
func TestSharedAnswerOutlivesItsLeader(t *testing.T) {
	f := newFlights(1)
	slots := newLimiter(1, time.Second)
	release, started := make(chan struct{}), make(chan struct{})
	h := func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		if r.Context().Err() != nil {
			http.Error(w, "cancelled", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, "answer")
	}
	ctx, leave := context.WithCancel(context.Background())
	leaderDone := make(chan struct{})
	go func() {
		f.do(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil).WithContext(ctx), slots, h)
		close(leaderDone)
	}()
	<-started
	follower := make(chan string)
	go func() {
		rec := httptest.NewRecorder()
		f.do(rec, httptest.NewRequest("GET", "/x", nil), slots, h)
		follower <- rec.Body.String()
	}()
	for { // until the follower waits
		f.mu.Lock()
		n := 0
		for _, fl := range f.m {
			n = fl.refs
		}
		f.mu.Unlock()
		if n == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	leave()
	close(release)
	if got := <-follower; got != "answer" {
		t.Errorf("the follower got %q after the leader left", got)
	}
	<-leaderDone
}

// fixedFiles serves a list of report summaries.
type fixedFiles struct{ reps *[]FileReport }

func (f fixedFiles) Reports(context.Context, string) ([]FileReport, error) {
	return append([]FileReport(nil), *f.reps...), nil
}
func (f fixedFiles) Report(context.Context, string, string) (FileReport, bool, error) {
	return FileReport{}, false, nil
}

// GET /api/v1/files in pages: every file once, ties in time kept apart,
// and a cursor whose file moved away meanwhile still continues.
func TestFilesArePaged(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	var reps []FileReport
	for i := range 7 {
		r := FileReport{Source: []string{"ledger.store", "ledger.door_visit"}[i%2]}
		r.File = fmt.Sprintf("f%d.csv", i)
		r.StoredAs = "done/" + r.File
		r.Status = "loaded"
		r.Finished = t0.Add(time.Duration(i/2) * time.Minute) // pairs finished at the same time
		reps = append(reps, r)
	}
	ts := server(t, Config{AdminToken: "tok", Files: fixedFiles{&reps}})
	seen := map[string]int{}
	after := ""
	for page := 0; page < 10; page++ {
		u := ts.URL + "/api/v1/files?limit=3"
		if after != "" {
			u += "&after=" + after
		}
		code, body := send(t, "GET", u, map[string]string{"Authorization": "Bearer tok"}, "")
		var res struct {
			Files []FileReport
			Next  *string
		}
		if code != 200 || json.Unmarshal([]byte(body), &res) != nil {
			t.Fatalf("page %d: %d %s", page, code, body)
		}
		for _, f := range res.Files {
			seen[f.File]++
		}
		if page == 0 { // the file the cursor names moves away
			last := res.Files[len(res.Files)-1].File
			reps = slices.DeleteFunc(reps, func(r FileReport) bool { return r.File == last })
		}
		if res.Next == nil {
			break
		}
		after = *res.Next
	}
	for i := range 6 {
		if n := seen[fmt.Sprintf("f%d.csv", i)]; n != 1 {
			t.Errorf("f%d.csv listed %d times: %v", i, n, seen)
		}
	}
}

// A list route's failing query is answered 500 with a message that quotes
// neither the query nor its arguments (it was DuckDB's error, SQL text
// and all, sent to any client); a cursor of the wrong kinds is refused
// before any query.
func TestListErrorsQuoteNothing(t *testing.T) {
	ts, st := serverStore(t, Config{AdminToken: "tok", Files: noFiles{}})
	bad := encodeCursor([]any{"n", "not a time", "grid", "2201"})
	code, resp := send(t, "GET", ts.URL+"/api/v1/indicators?after="+bad, map[string]string{"Authorization": "Bearer tok"}, "")
	if code != 400 || !strings.Contains(resp, "after must be") {
		t.Errorf("cursor with a bad time: HTTP %d %s", code, resp)
	}
	code, resp = send(t, "GET", ts.URL+"/api/v1/files?after="+encodeCursor([]any{1, 2, 3}), map[string]string{"Authorization": "Bearer tok"}, "")
	if code != 400 || !strings.Contains(resp, "after must be") {
		t.Errorf("files cursor: HTTP %d %s", code, resp)
	}
	// This store has no indicator_status view: the query fails in DuckDB.
	if _, err := st.DB().Exec("SELECT 1 FROM indicator_status"); err == nil {
		t.Fatal("the store has indicator_status")
	}
	code, resp = send(t, "GET", ts.URL+"/api/v1/indicators?name=secret_name", map[string]string{"Authorization": "Bearer tok"}, "")
	if code != 500 || strings.Contains(resp, "indicator_status") || strings.Contains(resp, "secret_name") || strings.Contains(resp, "SELECT") {
		t.Errorf("failing list query: HTTP %d %s, want 500 quoting nothing", code, resp)
	}
}

// A page cut short by the byte cap or the time limit names the next page
// from its last row (it said next: null, so a client stopped there); in
// CSV, the cursor and an error come as trailers.
func TestCutPageNamesTheNext(t *testing.T) {
	rows := func(n int, why string, err error) query {
		return func(cols func([]string) error, row func([]any) error) (string, error) {
			_ = cols([]string{"k"})
			for i := range n {
				if e := row([]any{fmt.Sprint(i)}); e != nil {
					return "", e
				}
			}
			return why, err
		}
	}
	pg := func() *paging {
		return &paging{limit: 10, token: func(last []any) string { return "after-" + last[0].(string) }}
	}
	for _, tc := range []struct {
		name string
		q    query
		next any
	}{
		{"complete", rows(3, "", nil), nil},
		{"full page", rows(11, "", nil), "after-9"},
		{"bytes", rows(4, "bytes", nil), "after-3"},
		{"timeout", rows(2, "timeout", nil), "after-1"},
		{"error", rows(2, "", internalError{errors.New("Binder Error: SELECT secret")}), "after-1"},
	} {
		rec := httptest.NewRecorder()
		writeQuery(rec, httptest.NewRequest("GET", "/x", nil), tc.q, pg(), 200)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: %v %s", tc.name, err, rec.Body)
		}
		if out["next"] != tc.next || strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("%s: %s, want next %v", tc.name, rec.Body, tc.next)
		}
	}
	rec := httptest.NewRecorder()
	writeQuery(rec, httptest.NewRequest("GET", "/x?format=csv", nil), rows(2, "", internalError{errors.New("secret")}), pg(), 200)
	if h := rec.Result().Trailer; h.Get("X-Yiwang-Next") != "after-1" || h.Get("X-Yiwang-Error") == "" || strings.Contains(h.Get("X-Yiwang-Error"), "secret") {
		t.Errorf("CSV trailers %v, body %q", h, rec.Body)
	}
}

// blockingRuns holds every recomputation until release is closed.
type blockingRuns struct{ entered, release chan struct{} }

func (b blockingRuns) Run(ctx context.Context, _ []string, _, _ time.Time) (map[string]queries.Result, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return map[string]queries.Result{}, nil
}

// While long admin work holds the administrator's slots, requests without
// the token are refused at once (401, they took a slot first and waited
// into a 503) and a mode switch still goes through: it has slots of its
// own.
func TestAdminSlotsNeedTheToken(t *testing.T) {
	runs := blockingRuns{entered: make(chan struct{}), release: make(chan struct{})}
	m := &recordingModes{}
	ts := server(t, Config{AdminToken: "tok", Modes: m, Indicators: runs})
	json := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer tok"}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send(t, "POST", ts.URL+"/api/v1/indicators/run", json, `{"from":"2026-11-01","to":"2026-12-01"}`)
		}()
		<-runs.entered
	}
	for _, route := range []string{"/api/v1/sql", "/api/v1/indicators/run"} {
		code, resp := send(t, "POST", ts.URL+route, map[string]string{"Content-Type": "application/json"}, `{"sql":"select 1"}`)
		if code != 401 {
			t.Errorf("%s without a token while the slots are held: HTTP %d %s, want 401", route, code, resp)
		}
	}
	code, resp := send(t, "POST", ts.URL+"/api/v1/modes", json, `{"area":"220173002","mode":"emergency","reason":"flood"}`)
	if code != 200 || len(m.calls) != 1 {
		t.Errorf("mode switch while the slots are held: HTTP %d %s (calls %v)", code, resp, m.calls)
	}
	if code, _ := send(t, "GET", ts.URL+"/healthz", nil, ""); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	close(runs.release)
	wg.Wait()
}

// When every request sharing an answer has left, its work is cancelled
// and its buffer given back (the work went on for nobody, and buffered
// answers had no bound).
func TestSharedWorkStopsWhenAllLeft(t *testing.T) {
	f := newFlights(1)
	slots := newLimiter(1, time.Second)
	started, cancelled := make(chan struct{}), make(chan struct{})
	h := func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		close(cancelled)
	}
	var wg sync.WaitGroup
	leaves := []context.CancelFunc{}
	for i := range 3 {
		ctx, leave := context.WithCancel(context.Background())
		leaves = append(leaves, leave)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.do(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil).WithContext(ctx), slots, h)
		}()
		if i == 0 {
			<-started
		}
	}
	for { // until all three share it
		f.mu.Lock()
		n := 0
		for _, fl := range f.m {
			n = fl.refs
		}
		f.mu.Unlock()
		if n == 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	leaves[0]()
	leaves[1]()
	select {
	case <-cancelled:
		t.Fatal("cancelled while a request still waited")
	case <-time.After(50 * time.Millisecond):
	}
	leaves[2]()
	<-cancelled
	wg.Wait()
	// The one buffer is free again: another answer can be computed.
	rec := httptest.NewRecorder()
	f.do(rec, httptest.NewRequest("GET", "/y", nil), slots, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "y") })
	if rec.Body.String() != "y" {
		t.Fatalf("after all left: %d %q", rec.Code, rec.Body)
	}
}
