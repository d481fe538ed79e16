package anomaly

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/store"
)

func open(t *testing.T) *sql.DB {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "a.duckdb"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	return st.DB()
}

func apply(t *testing.T, db *sql.DB, r Run) Result {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Apply(ctx, tx, r)
	if err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestLifecycle: an anomaly opens once, is updated when its figures
// change, resolves when no longer flagged, opens again when flagged anew;
// every change is logged in order with its version, and a run that does
// not cover an area leaves that area's anomalies alone.
func TestLifecycle(t *testing.T) {
	db := open(t)
	week := time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return week.Add(time.Duration(h) * time.Hour) }
	run := func(h int, flags ...Flag) Run {
		return Run{Rule: "instant_closures", RecordTable: "grid_events", Severity: SeverityWarning, Mode: "normal",
			PeriodStart: week, PeriodEnd: week.AddDate(0, 0, 7), RunID: "r", Now: at(h), Flags: flags}
	}
	a := Flag{Subject: "WGY1", Area: "220173002001", Observed: 3, Expected: 3, Detail: "3 of 4", Records: []string{"E2", "E1", "E3"}}
	b := Flag{Subject: "WGY2", Area: "220173003001", Observed: 4, Expected: 3, Detail: "4 of 4", Records: []string{"F1"}}

	steps := []struct {
		run  Run
		want Result
	}{
		{run(1, a, b), Result{Opened: 2}},
		{run(2, a, b), Result{Unchanged: 2}}, // the same again: nothing new
		{run(3, Flag{Subject: "WGY1", Area: a.Area, Observed: 4, Expected: 3, Detail: "4 of 5", Records: []string{"E1", "E4"}}, b), Result{Updated: 1, Unchanged: 1}},
		{run(4, b), Result{Resolved: 1, Unchanged: 1}},
		{run(5, b), Result{Unchanged: 1}}, // resolved stays resolved
		{run(6, a, b), Result{Opened: 1, Unchanged: 1}},
	}
	for i, s := range steps {
		if got := apply(t, db, s.run); got != s.want {
			t.Fatalf("step %d: %+v, want %+v", i+1, got, s.want)
		}
	}
	id := ID("instant_closures", "WGY1", week)
	if id != ID("instant_closures", "WGY1", week.In(time.FixedZone("CST", 8*3600))) || id == ID("instant_closures", "WGY1", week.AddDate(0, 0, 7)) {
		t.Fatal("the id depends on the instant of the period, not on its zone")
	}
	rows, err := db.Query(`SELECT change, version, status, observed FROM anomaly_changes WHERE anomaly_id = ? ORDER BY seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	for rows.Next() {
		var change, status string
		var version int
		var observed sql.NullFloat64
		if err := rows.Scan(&change, &version, &status, &observed); err != nil {
			t.Fatal(err)
		}
		log = append(log, change+"/"+status+"/"+string(rune('0'+version))+"/"+string(rune('0'+int(observed.Float64))))
	}
	_ = rows.Close()
	want := []string{"opened/open/1/3", "updated/open/2/4", "resolved/resolved/3/4", "opened/open/4/3"}
	if !reflect.DeepEqual(log, want) {
		t.Fatalf("changes %v, want %v", log, want)
	}
	var status string
	var version int
	var resolved sql.NullTime
	if err := db.QueryRow(`SELECT status, version, resolved_at FROM anomalies WHERE id = ?`, id).Scan(&status, &version, &resolved); err != nil {
		t.Fatal(err)
	}
	if status != StatusOpen || version != 4 || resolved.Valid {
		t.Fatalf("status %s version %d resolved %v", status, version, resolved)
	}
	var recs []any
	if err := db.QueryRow(`SELECT list(record_id ORDER BY record_id) FROM anomaly_records WHERE anomaly_id = ?`, id).Scan(&recs); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(recs, []any{"E1", "E2", "E3"}) {
		t.Fatalf("records %v", recs)
	}

	// A run covering only the areas in emergency resolves nothing outside.
	r := run(7)
	r.Covers = func(area string) bool { return area == "220173003001" }
	if got := apply(t, db, r); got != (Result{Resolved: 1}) {
		t.Fatalf("partial run: %+v, want WGY2 resolved only", got)
	}
	if err := db.QueryRow(`SELECT status FROM anomalies WHERE id = ?`, id).Scan(&status); err != nil || status != StatusOpen {
		t.Fatalf("WGY1 %s %v, want open", status, err)
	}
}

// TestFlagsChecked: a subject flagged twice, or none, is an error and
// nothing is written; a missing figure is stored as NULL.
func TestFlagsChecked(t *testing.T) {
	db := open(t)
	p := time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC)
	for _, flags := range [][]Flag{
		{{Subject: "S", Area: "a"}, {Subject: "S", Area: "a"}},
		{{Subject: "", Area: "a"}},
	} {
		tx, _ := db.Begin()
		if _, err := Apply(context.Background(), tx, Run{Rule: "r", PeriodStart: p, Now: p, RunID: "x", Flags: flags}); err == nil {
			t.Fatalf("%v accepted", flags)
		}
		_ = tx.Rollback()
	}
	apply(t, db, Run{Rule: "r", Severity: SeverityCritical, Mode: "normal", PeriodStart: p, PeriodEnd: p, Now: p, RunID: "x",
		Flags: []Flag{{Subject: "S", Area: "a", Observed: 1, Expected: math.NaN()}}})
	var expected sql.NullFloat64
	var n int
	if err := db.QueryRow(`SELECT expected, (SELECT count(*) FROM anomalies) FROM anomalies`).Scan(&expected, &n); err != nil || expected.Valid || n != 1 {
		t.Fatalf("expected %v, %d anomalies, %v", expected, n, err)
	}
}

// TestFeedback: a false positive resolves its open anomaly and it does not
// open again for its period; feedback given before this database held the
// anomaly applies when it opens; the same feedback twice changes nothing;
// an acknowledgement leaves the lifecycle as it is. The periods of false
// positives and incidents are the excluded ones.
func TestFeedback(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	week := time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC)
	run := func(h int, subjects ...string) Result {
		var flags []Flag
		for _, s := range subjects {
			flags = append(flags, Flag{Subject: s, Area: "220173002001", Observed: 4, Expected: 3, Detail: "d"})
		}
		return apply(t, db, Run{Rule: "instant_closures", Severity: SeverityWarning, Mode: "normal", PeriodStart: week,
			PeriodEnd: week.AddDate(0, 0, 7), RunID: "r", Now: week.Add(time.Duration(h) * time.Hour), Flags: flags})
	}
	give := func(f Feedback) {
		t.Helper()
		if err := f.Check(); err != nil {
			t.Fatal(err)
		}
		tx, _ := db.BeginTx(ctx, nil)
		if err := ApplyFeedback(ctx, tx, f); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	state := func(subject string) (status, feedback string, version int) {
		t.Helper()
		var fb sql.NullString
		if err := db.QueryRow(`SELECT status, feedback, version FROM anomalies WHERE id = ?`, ID("instant_closures", subject, week)).Scan(&status, &fb, &version); err != nil {
			t.Fatal(err)
		}
		return status, fb.String, version
	}
	run(1, "A", "B")
	fp := Feedback{AnomalyID: ID("instant_closures", "A", week), Kind: FeedbackFalsePositive, Who: "zhang.wei", Why: "patrol closures on the spot", At: week.Add(2 * time.Hour)}
	give(fp)
	give(fp) // again: nothing more
	if s, f, v := state("A"); s != StatusResolved || f != FeedbackFalsePositive || v != 2 {
		t.Fatalf("A after a false positive: %s %s v%d", s, f, v)
	}
	// Flagged again in the same period: stays resolved.
	if got := run(3, "A", "B"); got != (Result{Unchanged: 2}) {
		t.Fatalf("run after the false positive: %+v", got)
	}
	if s, _, v := state("A"); s != StatusResolved || v != 2 {
		t.Fatalf("A reopened: %s v%d", s, v)
	}
	// Acknowledged: still open, resolves as usual.
	give(Feedback{AnomalyID: ID("instant_closures", "B", week), Kind: FeedbackAck, Who: "li.na", At: week.Add(4 * time.Hour)})
	if s, f, _ := state("B"); s != StatusOpen || f != FeedbackAck {
		t.Fatalf("B acknowledged: %s %s", s, f)
	}
	// Feedback on C arrives before C opens here (another replica's).
	give(Feedback{AnomalyID: ID("instant_closures", "C", week), Kind: FeedbackFalsePositive, Who: "li.na", At: week.Add(5 * time.Hour)})
	if got := run(6, "C"); got.Opened != 1 || got.Resolved != 1 {
		t.Fatalf("C opened, B resolved: %+v", got)
	}
	if s, f, _ := state("C"); s != StatusResolved || f != FeedbackFalsePositive {
		t.Fatalf("C with feedback given before it opened: %s %s", s, f)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM (` + Excluded + `)`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d excluded periods, want A's and C's: %v", n, err)
	}
	var changes []string
	rows, _ := db.Query(`SELECT change FROM anomaly_changes WHERE anomaly_id = ? ORDER BY seq`, ID("instant_closures", "A", week))
	for rows.Next() {
		var c string
		_ = rows.Scan(&c)
		changes = append(changes, c)
	}
	_ = rows.Close()
	if !reflect.DeepEqual(changes, []string{ChangeOpened, ChangeFeedback}) {
		t.Fatalf("A's changes %v", changes)
	}
	for _, bad := range []Feedback{{Kind: FeedbackAck, Who: "x"}, {AnomalyID: "a", Kind: "maybe", Who: "x"}, {AnomalyID: "a", Kind: FeedbackAck}} {
		if bad.Check() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
