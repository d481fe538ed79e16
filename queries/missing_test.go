package queries

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
)

func TestCampaignOf(t *testing.T) {
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{sh(2026, 6, 30, 23, 59), "2026H1 2026-01-01 2026-07-01"},
		{sh(2026, 7, 1, 0, 0), "2026H2 2026-07-01 2027-01-01"},
		{time.Date(2026, 6, 30, 16, 0, 0, 0, time.UTC), "2026H2 2026-07-01 2027-01-01"}, // 00:00 in Shanghai
	} {
		s, e, n := CampaignOf(c.at)
		if got := fmt.Sprintf("%s %s %s", n, s.Format(time.DateOnly), e.Format(time.DateOnly)); got != c.want {
			t.Errorf("%v: %s, want %s", c.at, got, c.want)
		}
	}
}

// TestMissingVisits: who the 2026H2 campaign has not reached yet, under a
// community, with their latest attempt.
func TestMissingVisits(t *testing.T) {
	e := newEnv(t)
	for _, h := range [][2]string{{"H1", "220173002001001"}, {"H2", "220173002001001"}, {"H3", "220173002001002"}, {"H4", "220173002001002"}, {"H5", "220173003001001"}} {
		e.exec(t, `INSERT INTO households (household_id, grid_code, room_code, resident_type, members_n, updated_at) VALUES (?, ?, ?, 'registered', 2, now())`, h[0], h[1], "R-"+h[0])
	}
	for _, s := range []string{"S1", "S2"} {
		e.exec(t, `INSERT INTO stores (store_id, grid_code, signboard, store_category, updated_at) VALUES (?, '220173002001001', ?, 'catering', now())`, s, "店"+s)
	}
	visit := func(typ, id, outcome string, at time.Time) {
		e.exec(t, `INSERT INTO door_visits (visit_id, campaign_id, target_type, target_id, visitor_role, visited_at, grid_code, outcome, updated_at)
VALUES (?, '2026H2', ?, ?, 'community_worker', ?, '220173002001001', ?, now())`, fmt.Sprintf("%s-%s-%d", id, outcome, at.Unix()), typ, id, at, outcome)
	}
	visit("household", "H1", "met", sh(2026, 8, 1, 10, 0))      // reached
	visit("household", "H2", "not_home", sh(2026, 8, 1, 10, 0)) // tried twice, not reached
	visit("household", "H2", "refused", sh(2026, 9, 1, 10, 0))  //
	visit("household", "H3", "met", sh(2026, 6, 30, 23, 59))    // in the previous campaign
	visit("household", "H4", "vacant", sh(2026, 7, 1, 0, 0))    // confirmed vacant at the first instant
	visit("store", "H2", "met", sh(2026, 8, 2, 10, 0))          // a store visit does not reach a household
	visit("store", "S1", "met", sh(2026, 8, 2, 10, 0))          // reached
	visit("household", "H5", "met", sh(2026, 12, 31, 23, 59))   // after as_of

	start, _, _ := CampaignOf(sh(2026, 11, 26, 12, 0))
	got := func(target, area string) string {
		q, err := MissingSQL(target)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := e.db.Query(q, start, sh(2026, 11, 26, 12, 0), area)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			if ts, ok := vals[len(vals)-2].(time.Time); ok {
				vals[len(vals)-2] = ts.In(calendar.Zone).Format("01-02")
			}
			out = append(out, strings.TrimSpace(fmt.Sprintln(vals...)))
		}
		return strings.Join(out, "; ")
	}
	if g, w := got(TargetHousehold, "220173002001"), "H2 220173002001001 R-H2 2 09-01 refused; H3 220173002001002 R-H3 0 <nil> <nil>"; g != w {
		t.Errorf("households missing under 220173002001:\n got %s\nwant %s", g, w)
	}
	if g, w := got(TargetHousehold, ""), "H2 220173002001001 R-H2 2 09-01 refused; H3 220173002001002 R-H3 0 <nil> <nil>; H5 220173003001001 R-H5 0 <nil> <nil>"; g != w {
		t.Errorf("households missing everywhere:\n got %s\nwant %s", g, w)
	}
	if g, w := got(TargetStore, "220173002"), "S2 220173002001001 店S2 catering 0 <nil> <nil>"; g != w {
		t.Errorf("stores missing:\n got %s\nwant %s", g, w)
	}
	if _, err := MissingSQL("building"); err == nil {
		t.Error("target building accepted")
	}
}
