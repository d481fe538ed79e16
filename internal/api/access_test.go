package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/queries"
)

// The places of the matrix's district (queries.TestHierarchy): every code
// some row is filed under, in both hierarchies.
var matrixCodes = []string{
	"district", "220173", "220103",
	"220173002", "220173002001", "220173002001001", "220173002001002", "220173002002", "220173002002001",
	"220173003", "220173003001", "220173003001001",
	"220103011", "220103011001", "220103011001001",
	"ccna", "ccna-bh", "ccna-gx", "ccna-cd", "st-220173002", "st-220173003", "st-220103011", "cm-220173002001",
}

// matrixScopes are the token scopes of the matrix, each with what it may
// see, written out by hand (not by the code under test).
var matrixScopes = []struct {
	name    string
	grants  []string
	visible func(code string) bool
}{
	{"district", []string{"district"}, func(string) bool { return true }},
	{"street", []string{"220173002"}, func(c string) bool {
		return strings.HasPrefix(c, "220173002") || c == "st-220173002" || c == "cm-220173002001"
	}},
	{"community", []string{"220173002001"}, func(c string) bool {
		return strings.HasPrefix(c, "220173002001") || c == "cm-220173002001"
	}},
	{"unit", []string{"ccna-bh"}, func(c string) bool { // the 包保 chain of 北湖 under its zone
		return strings.HasPrefix(c, "220173002") || c == "ccna-bh" || c == "st-220173002" || c == "cm-220173002001"
	}},
}

var matrixRoles = []Role{RoleViewer, RoleOperator, RoleAdmin}

func matrixSecret(scope string, role Role) string { return scope + "-" + role.String() + "-secret" }

// matrixServer is a server over a store holding, for every code of
// matrixCodes, an indicator cell, an anomaly and a mode, and, in every
// grid, a household nobody reached and an emergency someone turned out
// for; with a token for every scope and role.
func matrixServer(t testing.TB) (*httptest.Server, *store.Store, map[string]string) {
	t.Helper()
	var tokens []Token
	for _, s := range matrixScopes {
		for _, r := range matrixRoles {
			tokens = append(tokens, Token{Name: s.name + "-" + r.String(), SHA256: HashToken(matrixSecret(s.name, r)), Role: r, Areas: s.grants})
		}
	}
	ts, st := serverStore(t, Config{Tokens: tokens, Modes: &recordingModes{}, Feedback: &recordingFeedback{}, Files: noFiles{}})
	ctx := context.Background()
	areas, units := queries.TestHierarchy()
	if err := st.ReplaceReference(ctx, areas, units); err != nil {
		t.Fatal(err)
	}
	if err := queries.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	db := st.DB()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	ids := map[string]string{} // area code → its anomaly's id
	for i, code := range matrixCodes {
		level := "grid"
		switch {
		case code == "district":
			level = "district"
		case !strings.HasPrefix(code, "22"):
			level = "gov_unit"
		case len(code) == 6:
			level = "county"
		case len(code) == 9:
			level = "street"
		case len(code) == 12:
			level = "community"
		}
		exec(`INSERT INTO indicator_values VALUES ('closure_rate', ?, ?, TIMESTAMPTZ '2026-11-01 00:00:00+08', TIMESTAMPTZ '2026-12-01 00:00:00+08',
  ?, 100, ?, false, 'r1', now(), now(), 1)`, level, code, 50+i, float64(50+i)/100)
		ids[code] = oneAnomaly(t, st, code)
		if strings.HasPrefix(code, "22") {
			exec(`INSERT INTO area_modes VALUES (?, 'normal', now(), 'matrix')`, code)
			exec(`INSERT INTO teams (team_id, team_type, name, level, gov_unit_id, area_code, formed_on, status, updated_at)
VALUES (?, 'volunteer', ?, 'community', 'ccna', ?, DATE '2024-03-01', 'active', now())`, "T"+code, "蒲公英"+code, code)
			exec(`INSERT INTO team_members (membership_id, team_id, team_type, gov_unit_id, area_code, member_id_number_key, role, party_member, joined_on, status, updated_at)
VALUES (?, ?, 'volunteer', 'ccna', ?, 'pseudonym', 'member', false, DATE '2024-03-01', 'active', now())`, "M"+code, "T"+code, code)
		}
		if level == "grid" {
			exec(`INSERT INTO households (household_id, grid_code, room_code, resident_type, members_n, updated_at) VALUES (?, ?, 'R1', 'registered', 2, now())`, "H"+code, code)
			exec(`INSERT INTO grid_events (event_id, source, category_major, urgency, grid_code, status, reported_at, updated_at)
VALUES (?, 'resident', '08', 'urgent', ?, 'closed', TIMESTAMPTZ '2026-11-10 08:00:00+08', now())`, "E"+code, code)
			exec(`INSERT INTO team_records (record_id, team_type, team_id, member_id_number_key, area_code, work_date, hours, task_type, event_id, recorded_at, updated_at)
VALUES (?, 'fire_team', 'PHD1', 'key1', ?, DATE '2026-11-10', 3, 'emergency_duty', ?, now(), now())`, "T"+code, code, "E"+code)
		}
	}
	return ts, st, ids
}

// listRoutes are the lists the matrix reads, each with the column that
// says where a row belongs and the parameters it needs.
var listRoutes = []struct {
	path, col string
	audited   bool
}{
	{"/api/v1/indicators?name=closure_rate&from=2026-11-01&to=2026-12-01", "area_code", false},
	{"/api/v1/anomalies?", "area_code", false},
	{"/api/v1/modes?", "area_code", false},
	{"/api/v1/doorknock/missing?target=household&at=2026-11-30", "grid_code", true},
	{"/api/v1/emergencies/archive?from=2026-11-01&to=2026-11-30", "grid_code", true},
	{"/api/v1/forces/teams?month=2026-11", "area_code", false},
}

// readAll reads every page of a list route with token, as JSON or CSV,
// and returns the rows' places; extra adds parameters.
func readAll(t *testing.T, base, path, col, secret, format string, extra url.Values) (codes []string, requests int) {
	t.Helper()
	next := ""
	for range 200 {
		u, err := url.Parse(base + path)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("limit", "3")
		for k, v := range extra {
			q[k] = v
		}
		if format != "json" {
			q.Set("format", format)
		}
		if next != "" {
			q.Set("after", next)
		}
		u.RawQuery = q.Encode()
		req, _ := http.NewRequest("GET", u.String(), nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		requests++
		if resp.StatusCode != 200 {
			b := new(strings.Builder)
			_, _ = fmt.Fprint(b, resp.Status)
			resp.Body.Close()
			t.Fatalf("%s: %s", u, b)
		}
		var page struct {
			Columns []string
			Rows    [][]any
			Next    *string
		}
		if format == "arrow" {
			page.Columns, page.Rows = readArrow(t, resp.Body)
			resp.Body.Close()
			if n := resp.Trailer.Get("X-Yiwang-Next"); n != "" {
				page.Next = &n
			} else if n := resp.Header.Get("X-Yiwang-Next"); n != "" {
				page.Next = &n
			}
		} else if format == "csv" {
			recs, err := csv.NewReader(resp.Body).ReadAll()
			resp.Body.Close()
			if err != nil || len(recs) == 0 {
				t.Fatalf("%s: CSV %v", u, err)
			}
			page.Columns = recs[0]
			for _, r := range recs[1:] {
				row := make([]any, len(r))
				for i := range r {
					row[i] = r[i]
				}
				page.Rows = append(page.Rows, row)
			}
			n := resp.Header.Get("X-Yiwang-Next")
			if n == "" {
				n = resp.Trailer.Get("X-Yiwang-Next")
			}
			if n != "" {
				page.Next = &n
			}
		} else {
			err := json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("%s: %v", u, err)
			}
		}
		i := slices.Index(page.Columns, col)
		if i < 0 {
			t.Fatalf("%s: no column %s in %v", u, col, page.Columns)
		}
		for _, r := range page.Rows {
			codes = append(codes, fmt.Sprint(r[i]))
		}
		if page.Next == nil || *page.Next == "" {
			return codes, requests
		}
		next = *page.Next
	}
	t.Fatalf("%s: more than 200 pages", path)
	return nil, 0
}

// TestAccessMatrix: district, street, community and responsibility-unit
// tokens of each role against every route. Every list, in JSON, CSV and Arrow,
// read page by page through its cursors, answers exactly the rows of the
// token's areas (none outside, none missing); a filter naming another
// area answers what one naming no area answers; a cursor made for
// another token reveals nothing; one anomaly outside the areas is
// answered as one that does not exist; every write needs its role and
// its area; and every read of personal data, and nothing else, left an
// audit row.
func TestAccessMatrix(t *testing.T) {
	ts, st, ids := matrixServer(t)
	audited := 0
	// The cursor after the district's first page of cells.
	_, page := do(t, "GET", ts.URL+listRoutes[0].path+"&limit=3", matrixSecret("district", RoleViewer), "")
	var first struct{ Next string }
	if err := json.Unmarshal([]byte(page), &first); err != nil || first.Next == "" {
		t.Fatalf("the district's first page: %v %s", err, page)
	}
	districtCursor := first.Next
	for _, s := range matrixScopes {
		for _, role := range matrixRoles {
			secret := matrixSecret(s.name, role)
			name := s.name + "-" + role.String()
			for _, lr := range listRoutes {
				for _, format := range []string{"json", "csv", "arrow"} {
					got, n := readAll(t, ts.URL, lr.path, lr.col, secret, format, nil)
					if lr.audited {
						audited += n
					}
					var want []string
					for _, code := range matrixCodes {
						if !s.visible(code) {
							continue
						}
						switch {
						case lr.col == "grid_code" && (len(code) != 15 || !strings.HasPrefix(code, "22")):
						case (strings.HasPrefix(lr.path, "/api/v1/modes") || strings.HasPrefix(lr.path, "/api/v1/forces")) && !strings.HasPrefix(code, "22"):
						default:
							want = append(want, code)
						}
					}
					slices.Sort(got)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Errorf("%s %s (%s): rows of %v, want %v", name, lr.path, format, got, want)
					}
				}
				// A filter naming another area answers as one naming no area.
				if !strings.HasPrefix(lr.path, "/api/v1/modes") && !strings.HasPrefix(lr.path, "/api/v1/forces") {
					other, n1 := readAll(t, ts.URL, lr.path, lr.col, secret, "json", url.Values{"area": {"220173003"}})
					none, n2 := readAll(t, ts.URL, lr.path, lr.col, secret, "json", url.Values{"area": {"990000"}})
					if lr.audited {
						audited += n1 + n2
					}
					if len(none) != 0 || s.visible("220173003") != (len(other) > 0) {
						t.Errorf("%s %s: area=220173003 answers %v, area=990000 %v", name, lr.path, other, none)
					}
				}
			}
			// The hierarchies, cut to the token's areas.
			c, body := do(t, "GET", ts.URL+"/api/v1/areas", secret, "")
			var trees map[string][]*Node
			if err := json.Unmarshal([]byte(body), &trees); c != 200 || err != nil {
				t.Fatalf("%s areas: HTTP %d %v %s", name, c, err, body)
			}
			var got, want []string
			var walk func(ns []*Node)
			walk = func(ns []*Node) {
				for _, n := range ns {
					got = append(got, n.Code)
					walk(n.Children)
				}
			}
			walk(trees["areas"])
			walk(trees["units"])
			areas, units := queries.TestHierarchy()
			for _, a := range areas {
				if s.visible(a.Code) {
					want = append(want, a.Code)
				}
			}
			for _, u := range units {
				if s.visible(u.UnitID) {
					want = append(want, u.UnitID)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s areas: %v, want %v", name, got, want)
			}
			// A district token's cursor, given by another token, goes on
			// within the other token's areas only.
			got, _ = readAll(t, ts.URL, listRoutes[0].path, "area_code", secret, "json", url.Values{"after": {districtCursor}})
			for _, code := range got {
				if !s.visible(code) {
					t.Errorf("%s: a cursor led to %s", name, code)
				}
			}
			// One anomaly: its own, another area's, one that does not exist.
			for code, id := range ids {
				c, body := do(t, "GET", ts.URL+"/api/v1/anomalies/"+id, secret, "")
				_, nobody := do(t, "GET", ts.URL+"/api/v1/anomalies/nosuchid", secret, "")
				audited += 2
				shown := strings.Contains(body, `"`+id+`"`)
				if c != 200 || shown != s.visible(code) || !shown && body != nobody {
					t.Errorf("%s GET anomaly of %s: HTTP %d %s (none: %s)", name, code, c, body, nobody)
				}
			}
			// A team's roster: its own areas' teams only.
			for _, code := range []string{"220173002001", "220173003001"} {
				c, body := do(t, "GET", ts.URL+"/api/v1/forces/members?team=T"+code, secret, "")
				audited++
				shown := strings.Contains(body, `"M`+code+`"`)
				if c != 200 || shown != s.visible(code) || strings.Contains(body, "member_id_number\"") {
					t.Errorf("%s roster of %s: HTTP %d %s", name, code, c, body)
				}
			}
			// Writes: a mode switch and feedback need the operator role
			// and an area of the token's.
			for _, code := range []string{"220173002001", "220173003001"} {
				c, body := do(t, "POST", ts.URL+"/api/v1/modes", secret, `{"area":"`+code+`","mode":"emergency","reason":"flood"}`)
				_, nobody := do(t, "POST", ts.URL+"/api/v1/modes", secret, `{"area":"220173009","mode":"emergency","reason":"flood"}`)
				switch {
				case role < RoleOperator:
					if c != 403 {
						t.Errorf("%s switches %s: HTTP %d %s, want 403", name, code, c, body)
					}
				case s.visible(code) && c != 200, !s.visible(code) && (c != 400 || detail(body) != strings.ReplaceAll(detail(nobody), "220173009", code)):
					t.Errorf("%s switches %s: HTTP %d %s (an area that does not exist: %s)", name, code, c, body, nobody)
				}
				c, body = do(t, "POST", ts.URL+"/api/v1/anomalies/"+ids[code]+"/ack", secret, `{"why":"seen"}`)
				switch {
				case role < RoleOperator:
					if c != 403 {
						t.Errorf("%s acks in %s: HTTP %d %s, want 403", name, code, c, body)
					}
				case s.visible(code) && c != 200, !s.visible(code) && c != 404:
					t.Errorf("%s acks in %s: HTTP %d %s", name, code, c, body)
				}
			}
			// The administrator's routes.
			for _, r := range []struct{ method, path, body string }{
				{"POST", "/api/v1/sql", `{"sql":"select count(*) from households"}`},
				{"GET", "/api/v1/audit", ""},
				{"GET", "/api/v1/files", ""},
				{"POST", "/api/v1/indicators/run", `{"from":"2026-11-01","to":"2026-12-01"}`},
			} {
				c, body := do(t, r.method, ts.URL+r.path, secret, r.body)
				if role < RoleAdmin && c != 403 || role == RoleAdmin && (c == 401 || c == 403) {
					t.Errorf("%s %s %s: HTTP %d %s", name, r.method, r.path, c, body)
				}
				if role == RoleAdmin && r.path == "/api/v1/sql" {
					audited++
				}
			}
		}
	}
	// Without a token, or with an unknown one, nothing but health.
	for _, p := range []string{"/api/v1/indicators", "/api/v1/areas", "/api/v1/anomalies", "/api/v1/modes", "/api/v1/tables", "/api/v1/doorknock/missing", "/api/v1/emergencies/archive", "/api/v1/audit"} {
		for _, tok := range []string{"", "district-viewer-secreT"} {
			if c, _ := do(t, "GET", ts.URL+p, tok, ""); c != 401 {
				t.Errorf("GET %s with token %q: HTTP %d, want 401", p, tok, c)
			}
		}
	}
	var rows, personal int
	if err := st.DB().QueryRow(`SELECT count(*), count(*) FILTER (WHERE endpoint IN ('GET /api/v1/doorknock/missing', 'GET /api/v1/emergencies/archive', 'GET /api/v1/anomalies/{id}', 'GET /api/v1/forces/members', 'POST /api/v1/sql')) FROM audit_log`).Scan(&rows, &personal); err != nil {
		t.Fatal(err)
	}
	if rows != audited || personal != rows {
		t.Errorf("%d audit rows (%d of personal-data routes), want %d, all of them", rows, personal, audited)
	}
	var who, areas, filters string
	var n int
	if err := st.DB().QueryRow(`SELECT who, areas::VARCHAR, filters, row_count FROM audit_log WHERE endpoint = 'GET /api/v1/doorknock/missing' AND who = 'street-viewer' ORDER BY row_count DESC LIMIT 1`).Scan(&who, &areas, &filters, &n); err != nil {
		t.Fatal(err)
	}
	if areas != "[220173002]" || !strings.Contains(filters, "target=household") || n != 3 {
		t.Errorf("an audit row: %s %s %q %d rows", who, areas, filters, n)
	}
}

func detail(body string) string {
	var p Problem
	_ = json.Unmarshal([]byte(body), &p)
	return p.Detail
}

// FuzzScopedLists: whatever query a street's viewer sends to a list route
// — filters naming any area, levels, dates, cursors, formats, repeated or
// odd parameters — every row answered lies within the street, and the
// server never fails (5xx).
func FuzzScopedLists(f *testing.F) {
	ts, _, _ := matrixServer(f)
	street := matrixScopes[1]
	secret := matrixSecret(street.name, RoleViewer)
	for i, q := range []string{"", "area=220173003", "area=2201", "area=", "level=gov_unit", "area=st-220173003", "area=district&level=district",
		"from=2026-01-01&to=2027-01-01", "name=closure_rate&area=22017300", "status=open&rule=instant_closures", "target=store", "limit=1&after=" + encodeCursor([]any{"x", "y"}),
		"area=220173002&area=220173003", "format=csv&area=%25", "area=220173002001001' OR '1'='1", "at=2026-11-30&area=220173003001"} {
		f.Add(uint8(i), q)
	}
	f.Fuzz(func(t *testing.T, route uint8, query string) {
		lr := listRoutes[int(route)%len(listRoutes)]
		u := ts.URL + lr.path + "&" + query
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			return // not a URL a client could send
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s: HTTP %d", u, resp.StatusCode)
		}
		if resp.StatusCode != 200 {
			return
		}
		if resp.Header.Get("Content-Type") == "text/csv; charset=utf-8" {
			recs, err := csv.NewReader(resp.Body).ReadAll()
			if err != nil || len(recs) == 0 {
				t.Fatalf("%s: CSV %v", u, err)
			}
			i := slices.Index(recs[0], lr.col)
			for _, r := range recs[1:] {
				if !street.visible(r[i]) {
					t.Fatalf("%s: a row of %s", u, r[i])
				}
			}
			return
		}
		var page struct {
			Columns []string
			Rows    [][]any
		}
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		i := slices.Index(page.Columns, lr.col)
		for _, r := range page.Rows {
			if code := fmt.Sprint(r[i]); !street.visible(code) {
				t.Fatalf("%s: a row of %s", u, code)
			}
		}
	})
}

// TestRateLimitPerToken: a token over its allowance is answered 429 with
// Retry-After, another token is not held by it, and time gives the
// allowance back (an injected clock: no waiting).
func TestRateLimitPerToken(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	ts := server(t, Config{Tokens: []Token{
		{Name: "a", SHA256: HashToken("a-secret"), Role: RoleViewer, Areas: []string{"district"}},
		{Name: "b", SHA256: HashToken("b-secret"), Role: RoleViewer, Areas: []string{"district"}},
	}, RateLimit: RateLimit{PerSecond: 2, Burst: 3, Now: func() time.Time { return now }}})
	codes := func(secret string, n int) (out []int) {
		for range n {
			c, _ := do(t, "GET", ts.URL+"/api/v1/tables", secret, "")
			out = append(out, c)
		}
		return out
	}
	if got := codes("a-secret", 5); !slices.Equal(got, []int{200, 200, 200, 429, 429}) {
		t.Errorf("a's burst: %v", got)
	}
	if got := codes("b-secret", 1); got[0] != 200 {
		t.Errorf("b, while a is over: %v", got)
	}
	now = now.Add(time.Second) // two more
	if got := codes("a-secret", 3); !slices.Equal(got, []int{200, 200, 429}) {
		t.Errorf("a a second later: %v", got)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/tables", nil)
	req.Header.Set("Authorization", "Bearer a-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("HTTP %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// readArrow reads an Arrow IPC stream's columns and rows, every value as
// Go text (nil for null).
func readArrow(t *testing.T, r io.Reader) ([]string, [][]any) {
	t.Helper()
	rd, err := ipc.NewReader(r)
	if err != nil {
		t.Fatalf("arrow stream: %v", err)
	}
	defer rd.Release()
	var cols []string
	for _, f := range rd.Schema().Fields() {
		cols = append(cols, f.Name)
	}
	var rows [][]any
	for rd.Next() {
		rec := rd.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]any, len(cols))
			for j := range cols {
				if c := rec.Column(j); !c.IsNull(i) {
					row[j] = c.ValueStr(i)
				}
			}
			rows = append(rows, row)
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatalf("arrow stream: %v", err)
	}
	return cols, rows
}

// TestListFilters: the indicator list by several names, by an area
// without the places under it, by mode; the anomaly list by severity;
// values out of range refused.
func TestListFilters(t *testing.T) {
	ts, _, _ := matrixServer(t)
	secret := matrixSecret("district", RoleViewer)
	for _, c := range []struct {
		path, col string
		want      []string
	}{
		{"/api/v1/indicators?name=closure_rate,no_such&area=220173002&descendants=false", "area_code", []string{"220173002"}},
		{"/api/v1/indicators?name=closure_rate&area=220173002001&level=grid", "area_code", []string{"220173002001001", "220173002001002"}},
		{"/api/v1/indicators?name=no_such", "area_code", nil},
		{"/api/v1/indicators", "area_code", []string{"220103011", "220173002", "220173003"}}, // nothing narrows it: the streets
		{"/api/v1/indicators?area=220173003&mode=emergency", "area_code", nil},
		{"/api/v1/indicators?area=220173003&mode=normal", "area_code", []string{"220173003", "220173003001", "220173003001001"}},
		{"/api/v1/anomalies?area=220173003&severity=warning", "area_code", []string{"220173003", "220173003001", "220173003001001"}},
		{"/api/v1/anomalies?severity=critical", "area_code", nil},
	} {
		got, _ := readAll(t, ts.URL, c.path, c.col, secret, "json", nil)
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.path, got, c.want)
		}
	}
	for _, p := range []string{"/api/v1/indicators?mode=war", "/api/v1/indicators?descendants=no", "/api/v1/anomalies?severity=high"} {
		if c, body := do(t, "GET", ts.URL+p, secret, ""); c != 400 {
			t.Errorf("%s: HTTP %d %s, want 400", p, c, body)
		}
	}
}
