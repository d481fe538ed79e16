package queries

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/store"
)

// env is a scratch store with the record tables, indicator_values, the
// official calendar and the test hierarchy.
type env struct {
	st  *store.Store
	db  *sql.DB
	cat *Catalog
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	reg := registry(t)
	st, err := scratchStore(ctx, t.TempDir(), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := loadCalendar(ctx, st); err != nil {
		t.Fatal(err)
	}
	areas, units := TestHierarchy()
	if err := st.ReplaceReference(ctx, areas, units); err != nil {
		t.Fatal(err)
	}
	cat, err := LoadEmbedded(reg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, db: st.DB(), cat: cat}
}

func (e *env) query(t *testing.T, name string) *Query {
	t.Helper()
	q, ok := e.cat.Get(name)
	if !ok {
		t.Fatalf("no query %s", name)
	}
	return q
}

func (e *env) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// event inserts a grid event due at deadline, closed at closed (nil: open).
func (e *env) event(t *testing.T, id, grid string, deadline time.Time, closed *time.Time) {
	t.Helper()
	status := "dispatched"
	if closed != nil {
		status = "closed"
	}
	e.exec(t, `INSERT INTO grid_events (event_id, source, category_major, urgency, grid_code, status, reported_at, updated_at, deadline_at, closed_at)
VALUES (?, 'resident', '01', 'normal', ?, ?, ?, ?, ?, ?)`, id, grid, status, deadline.Add(-48*time.Hour), deadline.Add(-48*time.Hour), deadline, closed)
}

func sh(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, calendar.Zone)
}

type version struct {
	version     int
	numerator   float64
	denominator float64
	value       sql.NullFloat64
	suppressed  bool
	runID       string
}

// versions returns every stored version of a cell, oldest first.
func (e *env) versions(t *testing.T, name string, level Level, code string, start time.Time) []version {
	t.Helper()
	rows, err := e.db.Query(`SELECT version, numerator, denominator, value, suppressed, run_id FROM indicator_values
WHERE name = ? AND level = ? AND area_code = ? AND period_start = ? ORDER BY version`, name, string(level), code, start)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []version
	for rows.Next() {
		var v version
		if err := rows.Scan(&v.version, &v.numerator, &v.denominator, &v.value, &v.suppressed, &v.runID); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func (e *env) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

const (
	gridA1 = "220173002001001"
	gridA2 = "220173002001002"
	gridB1 = "220173002002001"
	gridK1 = "220103011001001"
)

// cellsPerPeriod is the number of cells of a query published at every level
// over the test hierarchy: 5 grids, 4 communities, 3 streets, 2 counties,
// the district and 8 gov units.
const cellsPerPeriod = 5 + 4 + 3 + 2 + 1 + 8

// TestRunRestatement recomputes a closed month: the same inputs change
// nothing, changed inputs write new versions of the cells that changed and
// keep the old ones.
func TestRunRestatement(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	q := e.query(t, "event_ontime_closure_rate")
	feb := sh(2026, 2, 1, 0, 0)
	for i := range 5 {
		closed := sh(2026, 2, 2+i, 10, 0)
		e.event(t, fmt.Sprintf("A%d", i), gridA1, sh(2026, 2, 2+i, 17, 30), &closed)
	}
	e.event(t, "B0", gridB1, sh(2026, 2, 10, 17, 30), nil)
	now := sh(2026, 3, 5, 2, 0)

	res, err := Run(ctx, e.db, q, feb, feb.AddDate(0, 1, 0), "run-1", now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Periods != 1 || res.Inserted != cellsPerPeriod || res.Restated+res.Updated+res.Unchanged != 0 {
		t.Fatalf("first run: %+v", res)
	}
	if got := e.versions(t, q.Name, LevelStreet, "220173002", feb); len(got) != 1 || got[0].numerator != 5 || got[0].denominator != 6 {
		t.Fatalf("street after the first run: %+v", got)
	}

	// The same inputs again, even from another run: nothing changes.
	res, err = Run(ctx, e.db, q, feb, feb.AddDate(0, 1, 0), "run-2", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged != cellsPerPeriod || res.Inserted+res.Restated+res.Updated != 0 {
		t.Fatalf("identical run: %+v", res)
	}
	if n := e.count(t, "SELECT count(*) FROM indicator_values WHERE run_id = 'run-2'"); n != 0 {
		t.Fatalf("identical run wrote %d rows", n)
	}

	// B0 was closed on time after all (a late record): B1, its community,
	// the street, county, district and the units above it are restated.
	e.exec(t, "UPDATE grid_events SET status = 'closed', closed_at = ? WHERE event_id = 'B0'", sh(2026, 2, 10, 9, 0))
	res, err = Run(ctx, e.db, q, feb, feb.AddDate(0, 1, 0), "run-3", now.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// grid, community, street, county, district; ccna, ccna-bh, st-220173002.
	if res.Restated != 8 || res.Unchanged != cellsPerPeriod-8 {
		t.Fatalf("restating run: %+v", res)
	}
	got := e.versions(t, q.Name, LevelStreet, "220173002", feb)
	if len(got) != 2 || got[0].numerator != 5 || got[0].runID != "run-1" || got[1].numerator != 6 || got[1].version != 2 || got[1].runID != "run-3" || got[1].value.Float64 != 100 {
		t.Fatalf("street versions: %+v", got)
	}
	if got := e.versions(t, q.Name, LevelGrid, gridA1, feb); len(got) != 1 {
		t.Fatalf("A1 was restated: %+v", got)
	}
	var latest int
	if err := e.db.QueryRow(`SELECT version FROM indicator_values_latest WHERE name = ? AND level = 'street' AND area_code = '220173002'`, q.Name).Scan(&latest); err != nil || latest != 2 {
		t.Fatalf("latest view: %d %v", latest, err)
	}
}

// TestRunProvisional computes a month while it runs, then after it ends.
func TestRunProvisional(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	q := e.query(t, "event_ontime_closure_rate")
	mar := sh(2026, 3, 1, 0, 0)
	for i := range 6 {
		closed := sh(2026, 3, 2+i, 10, 0)
		e.event(t, fmt.Sprintf("A%d", i), gridA1, sh(2026, 3, 2+i, 17, 30), &closed)
	}
	// Due on 20 March, still open.
	e.event(t, "A9", gridA1, sh(2026, 3, 20, 17, 30), nil)

	check := func(runID string, now time.Time, want Result, num, den float64, provisional bool, storedRun string) {
		t.Helper()
		res, err := Run(ctx, e.db, q, mar, mar.AddDate(0, 1, 0), runID, now)
		if err != nil {
			t.Fatal(err)
		}
		res.InputsFreshAt = time.Time{}
		if fmt.Sprint(res) != fmt.Sprint(want) {
			t.Fatalf("%s: got %+v, want %+v", runID, res, want)
		}
		got := e.versions(t, q.Name, LevelGrid, gridA1, mar)
		if len(got) != 1 || got[0].numerator != num || got[0].denominator != den || got[0].runID != storedRun {
			t.Fatalf("%s: A1 %+v", runID, got)
		}
		var prov bool
		if err := e.db.QueryRow(`SELECT provisional FROM indicator_values_public WHERE name = ? AND area_code = ?`, q.Name, gridA1).Scan(&prov); err != nil || prov != provisional {
			t.Fatalf("%s: provisional %t %v", runID, prov, err)
		}
	}
	check("mid-march", sh(2026, 3, 15, 12, 0), Result{Periods: 1, Inserted: cellsPerPeriod}, 6, 6, true, "mid-march")
	check("late-march", sh(2026, 3, 25, 12, 0), Result{Periods: 1, Updated: cellsPerPeriod}, 6, 7, true, "late-march")
	check("april", sh(2026, 4, 1, 1, 0), Result{Periods: 1, Updated: cellsPerPeriod}, 6, 7, false, "april")
	check("april-again", sh(2026, 4, 2, 1, 0), Result{Periods: 1, Unchanged: cellsPerPeriod}, 6, 7, false, "april")
}

// TestRunPeriods runs a range of days: from is moved to the start of its
// day, periods that have not begun are skipped, and the cells of each day
// are its own.
func TestRunPeriods(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	q := e.query(t, "overdue_open_events")
	e.event(t, "O1", gridK1, sh(2026, 3, 1, 12, 0), nil)
	res, err := Run(ctx, e.db, q, sh(2026, 2, 28, 13, 0), sh(2026, 3, 10, 0, 0), "r", sh(2026, 3, 2, 9, 0))
	if err != nil {
		t.Fatal(err)
	}
	// 28 February, 1 and 2 March (running); the 3rd has not begun.
	if res.Periods != 3 || res.Inserted != 3*cellsPerPeriod {
		t.Fatalf("%+v", res)
	}
	for _, tc := range []struct {
		day      time.Time
		num, den float64
	}{{sh(2026, 2, 28, 0, 0), 0, 1}, {sh(2026, 3, 1, 0, 0), 1, 1}, {sh(2026, 3, 2, 0, 0), 1, 1}} {
		got := e.versions(t, q.Name, LevelCounty, "220103", tc.day)
		if len(got) != 1 || got[0].numerator != tc.num || got[0].denominator != tc.den {
			t.Errorf("%s: %+v", tc.day.Format(time.DateOnly), got)
		}
	}
	if !res.InputsFreshAt.Equal(sh(2026, 2, 27, 12, 0)) {
		t.Errorf("inputs fresh at %s, want the newest reported_at", res.InputsFreshAt)
	}
	if _, err := Run(ctx, e.db, q, sh(2026, 3, 1, 0, 0), sh(2026, 3, 1, 0, 0), "r", sh(2026, 3, 2, 0, 0)); err == nil {
		t.Error("empty range accepted")
	}
	if _, err := Run(ctx, e.db, q, sh(2026, 3, 1, 0, 0), sh(2026, 3, 2, 0, 0), "", sh(2026, 3, 2, 0, 0)); err == nil {
		t.Error("empty run id accepted")
	}
}

// TestRunUnknownArea: a code missing from the areas table counts in the
// district only, and is reported.
func TestRunUnknownArea(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	q := e.query(t, "overdue_open_events")
	e.event(t, "O1", "220173009001001", sh(2026, 3, 1, 12, 0), nil)
	e.event(t, "O2", gridA2, sh(2026, 3, 1, 12, 0), nil)
	day := sh(2026, 3, 1, 0, 0)
	res, err := Run(ctx, e.db, q, day, day.AddDate(0, 0, 1), "r", day.AddDate(0, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.UnknownAreas) != 1 || res.UnknownAreas[0] != "220173009001001" {
		t.Errorf("unknown areas %v", res.UnknownAreas)
	}
	if got := e.versions(t, q.Name, LevelDistrict, DistrictCode, day); len(got) != 1 || got[0].numerator != 2 {
		t.Errorf("district %+v", got)
	}
	if got := e.versions(t, q.Name, LevelCounty, "220173", day); len(got) != 1 || got[0].numerator != 1 {
		t.Errorf("county %+v", got)
	}
}

// TestRunPublicView: a suppressed cell's numerator and denominator stay in
// the table and are withheld by the public view.
func TestRunPublicView(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	q := e.query(t, "event_ontime_closure_rate")
	closed := sh(2026, 2, 2, 10, 0)
	e.event(t, "A0", gridA1, sh(2026, 2, 2, 17, 30), &closed)
	feb := sh(2026, 2, 1, 0, 0)
	if _, err := Run(ctx, e.db, q, feb, feb.AddDate(0, 1, 0), "r", sh(2026, 3, 2, 0, 0)); err != nil {
		t.Fatal(err)
	}
	var num, den, value sql.NullFloat64
	var suppressed bool
	if err := e.db.QueryRow(`SELECT numerator, denominator, value, suppressed FROM indicator_values_public WHERE name = ? AND area_code = ?`, q.Name, gridA1).Scan(&num, &den, &value, &suppressed); err != nil {
		t.Fatal(err)
	}
	if num.Valid || den.Valid || value.Valid || !suppressed {
		t.Errorf("public view shows %v %v %v %t", num, den, value, suppressed)
	}
	if got := e.versions(t, q.Name, LevelGrid, gridA1, feb); len(got) != 1 || got[0].numerator != 1 || got[0].denominator != 1 || !got[0].suppressed {
		t.Errorf("table %+v", got)
	}
}

func TestRunBadHierarchy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	q := e.query(t, "overdue_open_events")
	if err := e.st.ReplaceReference(ctx, []store.Area{
		{Code: "220173002", Name: "a", Level: "street", ParentCode: "220173002001"},
		{Code: "220173002001", Name: "b", Level: "community", ParentCode: "220173002"},
	}, nil); err != nil {
		t.Fatal(err)
	}
	day := sh(2026, 3, 1, 0, 0)
	_, err := Run(ctx, e.db, q, day, day.AddDate(0, 0, 1), "r", day.AddDate(0, 0, 2))
	if err == nil || !strings.Contains(err.Error(), "runs in a circle") {
		t.Errorf("got %v", err)
	}
}

// TestWorkOrderDeadlines checks the working-hour deadlines the work order
// query computes in SQL against the calendar package, for orders created at
// random instants of 2026 (holidays and make-up days included): each order
// sits in a grid of its own, completed exactly at its deadline (on time) or
// a second after (late), and must be counted once, in the month of its
// deadline, on time or late as made.
func TestWorkOrderDeadlines(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	q := e.query(t, "work_order_ontime_rate")
	cal, err := calendar.Official()
	if err != nil {
		t.Fatal(err)
	}
	const n = 240
	rng := rand.New(rand.NewPCG(1, 2))
	areas := []store.Area{{Code: "220173002001", Name: "c", Level: "community"}}
	type order struct {
		grid     string
		deadline time.Time
		onTime   bool
	}
	var orders []order
	cats := []struct {
		category string
		hours    int
	}{{"water_elec", 8}, {"elevator", 8}, {"heating", 8}, {"fee", 16}, {"parking", 16}}
	for i := range n {
		grid := fmt.Sprintf("220173002001%03d", i+1)
		areas = append(areas, store.Area{Code: grid, Name: grid, Level: "grid", ParentCode: "220173002001"})
		// Whole minutes, a fifth of them on a shift boundary.
		created := sh(2026, 1, 1, 0, 0).Add(time.Duration(rng.IntN(360*24*60)) * time.Minute)
		if i%5 == 0 {
			created = sh(2026, 1, 1, 0, 0).AddDate(0, 0, rng.IntN(360)).Add([]time.Duration{510, 720, 780, 1050}[rng.IntN(4)] * time.Minute)
		}
		c := cats[rng.IntN(len(cats))]
		urgent := rng.IntN(4) == 0
		hours := c.hours
		if urgent {
			hours = 4
		}
		deadline := cal.AddWorkingHours(created, time.Duration(hours)*time.Hour)
		onTime := rng.IntN(2) == 0
		completed := deadline
		if !onTime {
			completed = deadline.Add(time.Second)
		}
		e.exec(t, `INSERT INTO work_orders (order_id, kind, category, object_type, grid_code, status, created_at, completed_at, urgent, updated_at)
VALUES (?, 'repair', ?, 'room', ?, 'completed', ?, ?, ?, ?)`, fmt.Sprint("W", i), c.category, grid, created, completed, urgent, completed)
		orders = append(orders, order{grid, deadline, onTime})
	}
	if err := e.st.ReplaceReference(ctx, areas, nil); err != nil {
		t.Fatal(err)
	}
	var limits []store.SLA
	for _, c := range cats {
		limits = append(limits, store.SLA{Platform: "property", Category: c.category, Urgency: "normal", WorkHours: float64(c.hours)},
			store.SLA{Platform: "property", Category: c.category, Urgency: "urgent", WorkHours: 4})
	}
	if err := e.st.ReplaceSLA(ctx, limits); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, e.db, q, sh(2026, 1, 1, 0, 0), sh(2027, 2, 1, 0, 0), "r", sh(2027, 3, 1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		rows, err := e.db.Query(`SELECT period_start, numerator, denominator FROM indicator_values
WHERE name = ? AND level = 'grid' AND area_code = ? AND denominator > 0`, q.Name, o.grid)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var start time.Time
			var num, den float64
			if err := rows.Scan(&start, &num, &den); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s %g/%g", start.In(calendar.Zone).Format("2006-01"), num, den))
		}
		_ = rows.Close()
		num := 0
		if o.onTime {
			num = 1
		}
		want := fmt.Sprintf("%s %d/1", o.deadline.In(calendar.Zone).Format("2006-01"), num)
		if len(got) != 1 || got[0] != want {
			t.Errorf("grid %s, due %s: got %v, want [%s]", o.grid, o.deadline.In(calendar.Zone).Format(time.DateTime), got, want)
		}
	}
}

// TestQueryFilesInServerZones runs the query tests again in processes whose
// time zone, and so DuckDB's session zone, is not UTC: results must not
// depend on it.
func TestQueryFilesInServerZones(t *testing.T) {
	if os.Getenv("YIWANG_TEST_ZONE") != "" {
		t.Skip("in a child process")
	}
	if testing.Short() {
		t.Skip("short")
	}
	for _, zone := range []string{"Asia/Shanghai", "America/New_York"} {
		t.Run(zone, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestQueryFiles$", "-test.count=1")
			cmd.Env = append(os.Environ(), "TZ="+zone, "YIWANG_TEST_ZONE="+zone)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("query tests with the server in %s: %v\n%s", zone, err, out)
			}
		})
	}
}

// TestHistoryNote: a year-on-year cell whose last-year month the data do
// not reach says so, through the read model, until the data reach back.
func TestHistoryNote(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	incident := func(id string, at time.Time) {
		e.exec(t, `INSERT INTO police_incidents (incident_id, received_at, call_type, category_l1, is_valid, station_code, grid_code, updated_at)
VALUES (?, ?, 'report', 'dispute', true, 'S1', '220173002001001', now())`, id, at)
	}
	for i := range 6 {
		incident(fmt.Sprintf("P%d", i), sh(2026, 7, 3+i, 10, 0))
	}
	q := e.query(t, "police_incidents_yoy")
	nov, dec := sh(2026, 11, 1, 0, 0), sh(2026, 12, 1, 0, 0)
	note := func() string {
		sqlText, args := IndicatorQuery(IndicatorFilter{Name: q.Name, Area: "220173002", Level: string(LevelStreet), EndAfter: nov, StartBefore: dec, Scope: Scope{All: true}})
		var n sql.NullString
		rows, err := e.db.QueryContext(ctx, `SELECT note FROM (`+sqlText+`) x`, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		return n.String
	}
	if _, err := Run(ctx, e.db, q, nov, dec, "r1", sh(2026, 12, 2, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if got, want := note(), "needs data from 2025-11-01; the tables hold data from 2026-07-03"; got != want {
		t.Errorf("note %q, want %q", got, want)
	}
	incident("P-old", sh(2025, 10, 20, 10, 0))
	if _, err := Run(ctx, e.db, q, nov, dec, "r2", sh(2026, 12, 2, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if got := note(); got != "" {
		t.Errorf("note %q once the data reach back a year", got)
	}
}

// TestHistoryNoteBeforeData: any indicator's period that begins before the
// tables' data (a half-year campaign begun months before the history) says
// so; a period the data reach from its first day on does not.
func TestHistoryNoteBeforeData(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 6 {
		e.exec(t, `INSERT INTO police_incidents (incident_id, received_at, call_type, category_l1, is_valid, station_code, grid_code, updated_at)
VALUES (?, ?, 'report', 'dispute', true, 'S1', '220173002001001', now())`, fmt.Sprintf("P%d", i), sh(2026, 7, 1, 10+i, 0))
	}
	q := e.query(t, "police_incident_count")
	if _, err := Run(ctx, e.db, q, sh(2026, 6, 1, 0, 0), sh(2026, 8, 1, 0, 0), "r1", sh(2026, 8, 2, 0, 0)); err != nil {
		t.Fatal(err)
	}
	notes := map[string]string{}
	sqlText, args := IndicatorQuery(IndicatorFilter{Name: q.Name, Area: "220173002", Level: string(LevelStreet), Scope: Scope{All: true}})
	rows, err := e.db.QueryContext(ctx, `SELECT strftime(timezone('Asia/Shanghai', period_start), '%Y-%m-%d'), coalesce(note, '') FROM (`+sqlText+`) x`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var p, n string
		if err := rows.Scan(&p, &n); err != nil {
			t.Fatal(err)
		}
		notes[p] = n
	}
	if got, want := notes["2026-06-01"], "needs data from 2026-06-01; the tables hold data from 2026-07-01"; got != want {
		t.Errorf("1 June: note %q, want %q", got, want)
	}
	if got, ok := notes["2026-07-01"]; !ok || got != "" {
		t.Errorf("1 July (data from that day on): note %q (cell there: %t)", got, ok)
	}
}
