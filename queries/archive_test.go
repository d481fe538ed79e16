package queries

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
)

// TestEmergencyArchive: who turned out for which emergency, where and for
// how long, under a street, in July 2026, read in pages of two.
func TestEmergencyArchive(t *testing.T) {
	e := newEnv(t)
	event := func(id, grid, major, status string, at time.Time) {
		e.exec(t, `INSERT INTO grid_events (event_id, source, category_major, category_minor, urgency, grid_code, status, reported_at, updated_at)
VALUES (?, 'gridder_patrol', ?, '01', 'urgent', ?, ?, ?, now())`, id, major, grid, status, at)
	}
	card := func(id, event, task, team, member, area string, hours float64) {
		var m any
		if member != "" {
			m = member
		}
		e.exec(t, `INSERT INTO team_records (record_id, team_type, team_id, member_id_number_key, area_code, work_date, hours, task_type, event_id, recorded_at, updated_at)
VALUES (?, 'fire_team', ?, ?, ?, DATE '2026-07-02', ?, ?, ?, now(), now())`, id, team, m, area, hours, task, event)
	}
	event("E1", "220173002001001", "08", "closed", sh(2026, 7, 2, 3, 0))
	event("E2", "220173002002001", "08", "handled", sh(2026, 7, 1, 0, 0)) // nobody turned out
	event("E3", "220173002001001", "08", "rejected", sh(2026, 7, 3, 0, 0))
	event("E4", "220173002001001", "05", "closed", sh(2026, 7, 3, 0, 0))
	event("E5", "220173003001001", "08", "closed", sh(2026, 7, 4, 0, 0)) // another street
	event("E6", "220173002001001", "08", "closed", sh(2026, 8, 1, 0, 0)) // August
	card("T2", "E1", "emergency_duty", "PHD220173002", "k2", "220173002001", 3.5)
	card("T1", "E1", "emergency_duty", "TJD220173002", "k1", "220173002001001", 4)
	card("T3", "E1", "emergency_duty", "PHD-bh-ZH", "", "220173002", 6) // no member pseudonym
	card("T4", "E1", "training", "PHD220173002", "k4", "220173002001001", 2)
	card("T5", "E3", "emergency_duty", "PHD220173002", "k5", "220173002001001", 2)
	card("T6", "E5", "emergency_duty", "PHD220173003", "k6", "220173003001001", 2)

	var rows []string
	var after []any
	for page := 0; page < 10; page++ {
		q, args := ArchiveQuery(sh(2026, 7, 1, 0, 0), sh(2026, 8, 1, 0, 0), "220173002", after, Scope{All: true})
		r, err := e.db.Query(q+" LIMIT 2", args...)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for r.Next() {
			var at time.Time
			var id, major, minor, grid, status string
			var rec, typ, team, member, area *string
			var day *time.Time
			var hours *float64
			if err := r.Scan(&at, &id, &major, &minor, &grid, &status, &rec, &typ, &team, &member, &area, &day, &hours); err != nil {
				t.Fatal(err)
			}
			n++
			s := func(p *string) string {
				if p == nil {
					return "-"
				}
				return *p
			}
			h := "-"
			if hours != nil {
				h = fmt.Sprint(*hours)
			}
			rows = append(rows, strings.Join([]string{at.In(calendar.Zone).Format("01-02T15"), id, grid, s(rec), s(team), s(member), s(area), h}, " "))
			key := ""
			if rec != nil {
				key = *rec
			}
			after = []any{at, id, key}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if n < 2 {
			break
		}
	}
	want := []string{
		"07-01T00 E2 220173002002001 - - - - -",
		"07-02T03 E1 220173002001001 T1 TJD220173002 k1 220173002001001 4",
		"07-02T03 E1 220173002001001 T2 PHD220173002 k2 220173002001 3.5",
		"07-02T03 E1 220173002001001 T3 PHD-bh-ZH - 220173002 6",
	}
	if got := strings.Join(rows, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("archive:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}
