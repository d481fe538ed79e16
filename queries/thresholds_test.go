package queries

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestStatusJudgesByTheAreasMode: a street switched to emergency takes its
// communities and grids to the emergency thresholds (80/90 instead of
// 70/80 for event_ontime_closure_rate), its responsibility unit follows
// it, and other areas stay on the normal ones.
func TestStatusJudgesByTheAreasMode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := SyncThresholds(ctx, e.db, e.cat); err != nil {
		t.Fatal(err)
	}
	if err := SyncThresholds(ctx, e.db, e.cat); err != nil { // again: replaces, never duplicates
		t.Fatal(err)
	}
	// The migrations made area_modes and the status view.
	e.exec(t, `INSERT INTO area_modes VALUES ('220173002', 'emergency', now(), 'flood')`)

	start := sh(2026, 11, 1, 0, 0)
	cell := func(level, code string, value float64) {
		e.exec(t, `INSERT INTO indicator_values VALUES ('event_ontime_closure_rate', ?, ?, ?, ?, ?, 100, ?, false, 'r', ?, NULL, 1)`,
			level, code, start, start.AddDate(0, 1, 0), value, value, time.Now())
	}
	cell("grid", "220173002001001", 85)   // emergency (street above): 85 < 90 warns
	cell("grid", "220173002001002", 75)   // emergency: 75 < 80 alerts
	cell("grid", "220173003001001", 75)   // normal: 70 ≤ 75 < 80 warns
	cell("community", "220173003001", 85) // normal: ok
	cell("street", "220173002", 95)       // emergency itself: ok
	cell("gov_unit", "st-220173002", 85)  // follows 220173002: warns
	cell("gov_unit", "ccna", 65)          // covers no area: normal, alerts
	cell("district", "district", 79)      // normal: warns
	e.exec(t, `INSERT INTO indicator_values VALUES ('event_ontime_closure_rate', 'grid', '220103011001001', ?, ?, 1, 3, NULL, true, 'r', ?, NULL, 1)`,
		start, start.AddDate(0, 1, 0), time.Now()) // suppressed: no value, no status

	want := map[string]string{
		"220173002001001": "emergency warn 90 80", "220173002001002": "emergency alert 90 80",
		"220173003001001": "normal warn 80 70", "220173003001": "normal ok 80 70", "220173002": "emergency ok 90 80",
		"st-220173002": "emergency warn 90 80", "ccna": "normal alert 80 70", "district": "normal warn 80 70",
		"220103011001001": "normal <nil> 80 70",
	}
	rows, err := e.db.Query(`SELECT area_code, mode, status, warn, alert FROM indicator_status WHERE name = 'event_ontime_closure_rate'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var code, mode string
		var status *string
		var warn, alert float64
		if err := rows.Scan(&code, &mode, &status, &warn, &alert); err != nil {
			t.Fatal(err)
		}
		s := "<nil>"
		if status != nil {
			s = *status
		}
		if got := fmt.Sprintf("%s %s %g %g", mode, s, warn, alert); got != want[code] {
			t.Errorf("%s: %s, want %s", code, got, want[code])
		}
		n++
	}
	if n != len(want) {
		t.Fatalf("%d cells, want %d", n, len(want))
	}
	var warn, alert float64
	if err := e.db.QueryRow(`SELECT warn, alert FROM indicator_thresholds WHERE name = 'door_knock_coverage' AND mode = 'emergency'`).Scan(&warn, &alert); err != nil || warn != 100 || alert != 90 {
		t.Fatalf("door_knock_coverage's emergency thresholds fall back to its normal 100/90: %v/%v %v", warn, alert, err)
	}
	var none int
	if err := e.db.QueryRow(`SELECT count(*) FROM indicator_thresholds WHERE name = 'overdue_open_events'`).Scan(&none); err != nil || none != 0 {
		t.Fatalf("overdue_open_events has no thresholds, the table %d rows: %v", none, err)
	}
}
