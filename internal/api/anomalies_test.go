package api

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/anomaly"
	"github.com/yiwang-gov/yiwang/internal/store"
)

// TestAnomaliesListAndShow: the anomaly list pages the most recently
// changed first and filters by status, rule and area; one anomaly comes
// with the records behind it; both need the admin token.
func TestAnomaliesListAndShow(t *testing.T) {
	ts, st := serverStore(t, Config{AdminToken: "tok"})
	ctx := context.Background()
	if err := anomaly.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	week := time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC)
	for i := range 5 {
		tx, err := st.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		area := "220173002001"
		if i%2 == 1 {
			area = "220173003001"
		}
		_, err = anomaly.Apply(ctx, tx, anomaly.Run{Rule: "instant_closures", RecordTable: "grid_events", Severity: anomaly.SeverityWarning,
			Mode: "normal", PeriodStart: week, PeriodEnd: week.AddDate(0, 0, 7), RunID: "r", Now: week.Add(time.Duration(i) * time.Hour),
			Covers: func(string) bool { return false }, // each run adds one, resolves none
			Flags:  []anomaly.Flag{{Subject: fmt.Sprintf("WGY%d", i), Area: area, Observed: float64(3 + i), Expected: 3, Detail: "d", Records: []string{fmt.Sprintf("E%d", i), "E9"}}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if code, _ := do(t, "GET", ts.URL+"/api/v1/anomalies", "", ""); code != 401 {
		t.Fatalf("without the token: HTTP %d", code)
	}
	if code, _ := do(t, "GET", ts.URL+"/api/v1/anomalies?status=closed", "tok", ""); code != 400 {
		t.Fatalf("an unknown status: HTTP %d", code)
	}
	c := &Client{Server: ts.URL, Token: "tok"}
	all, err := c.Anomalies(ctx, "/api/v1/anomalies", url.Values{"limit": {"2"}}) // three pages
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, a := range all {
		subjects = append(subjects, a.Subject)
	}
	if fmt.Sprint(subjects) != "[WGY4 WGY3 WGY2 WGY1 WGY0]" {
		t.Fatalf("subjects %v, want the most recently changed first", subjects)
	}
	in, err := c.Anomalies(ctx, "/api/v1/anomalies", url.Values{"area": {"220173003"}, "status": {"open"}, "rule": {"instant_closures"}})
	if err != nil || len(in) != 2 || in[0].Subject != "WGY3" || in[1].Subject != "WGY1" {
		t.Fatalf("street 220173003: %+v %v", in, err)
	}
	one, err := c.Anomalies(ctx, "/api/v1/anomalies/"+all[0].ID, nil)
	if err != nil || len(one) != 1 {
		t.Fatalf("one: %+v %v", one, err)
	}
	a := one[0]
	if a.Rule != "instant_closures" || *a.Observed != 7 || a.Status != "open" || a.Version != 1 || fmt.Sprint(a.Records) != "[grid_events:E4 grid_events:E9]" || !a.PeriodStart.Equal(week) {
		t.Fatalf("one: %+v", a)
	}
	if none, err := c.Anomalies(ctx, "/api/v1/anomalies/nosuchid", nil); err != nil || len(none) != 0 {
		t.Fatalf("unknown id: %+v %v", none, err)
	}
}

type recordingFeedback struct{ got []anomaly.Feedback }

func (r *recordingFeedback) Give(_ context.Context, f anomaly.Feedback) error {
	if f.AnomalyID == "missing" {
		return anomaly.ErrNotFound
	}
	if err := f.Check(); err != nil {
		return err
	}
	r.got = append(r.got, f)
	return nil
}

// TestFeedbackRoutes: ack, false-positive and incident reach the feedback
// service as their kinds, with who and why; an unknown action or anomaly
// is 404, a body without who is the token's, and the routes need a token.
func TestFeedbackRoutes(t *testing.T) {
	fb := &recordingFeedback{}
	ts, st := serverStore(t, Config{AdminToken: "tok", Feedback: fb})
	id := oneAnomaly(t, st, "220173002001")
	for _, c := range []struct {
		path, token, body string
		code              int
	}{
		{"/api/v1/anomalies/abc/false-positive", "", `{"who":"zhang.wei"}`, 401},
		{"/api/v1/anomalies/abc/false-positive", "tok", `{"who":"zhang.wei","why":"patrol finds"}`, 200},
		{"/api/v1/anomalies/abc/ack", "tok", `{"who":"li.na"}`, 200},
		{"/api/v1/anomalies/abc/incident", "tok", `{"who":"li.na","why":"burst main"}`, 200},
		{"/api/v1/anomalies/abc/close", "tok", `{"who":"li.na"}`, 404},
		{"/api/v1/anomalies/missing/ack", "tok", `{"who":"li.na"}`, 404},
		{"/api/v1/anomalies/abc/ack", "tok", `{"why":"no one"}`, 200}, // who: the token's name
		{"/api/v1/anomalies/abc/ack", "tok", `{"who":"li.na","whom":"x"}`, 400},
	} {
		c.path = strings.Replace(c.path, "/abc/", "/"+id+"/", 1)
		if code, body := do(t, "POST", ts.URL+c.path, c.token, c.body); code != c.code {
			t.Errorf("%s %s: HTTP %d %s, want %d", c.path, c.body, code, body, c.code)
		}
	}
	if len(fb.got) != 4 || fb.got[3].Who != "admin" || fb.got[0].Kind != anomaly.FeedbackFalsePositive || fb.got[0].Why != "patrol finds" || fb.got[1].Kind != anomaly.FeedbackAck ||
		fb.got[2].Kind != anomaly.FeedbackIncident || fb.got[2].AnomalyID != id {
		t.Fatalf("feedback given: %+v", fb.got)
	}
}

// oneAnomaly opens one anomaly in area and returns its id.
func oneAnomaly(t testing.TB, st *store.Store, area string) string {
	t.Helper()
	ctx := context.Background()
	if err := anomaly.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	week := time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC)
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = anomaly.Apply(ctx, tx, anomaly.Run{Rule: "instant_closures", RecordTable: "grid_events", Severity: anomaly.SeverityWarning,
		Mode: "normal", PeriodStart: week, PeriodEnd: week.AddDate(0, 0, 7), RunID: "r", Now: week,
		Covers: func(string) bool { return false },
		Flags:  []anomaly.Flag{{Subject: "WGY-" + area, Area: area, Observed: 5, Expected: 3, Detail: "d", Records: []string{"E1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var id string
	if err := st.DB().QueryRow("SELECT id FROM anomalies WHERE area_code = ?", area).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
