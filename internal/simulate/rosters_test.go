package simulate

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRosterSizes: the district's five forces at the sizes of its measures,
// whatever the scale.
func TestRosterSizes(t *testing.T) {
	for _, scale := range []float64{0.01, 0.05} {
		s := New(Config{Seed: 7, Scale: scale, Now: fixed(weekdayPeak())})
		s.Step(0)
		l := s.Ledger()
		teams := map[string]int{}
		levels := map[string]int{}
		leaders := 0
		for _, v := range l.Valid["team"] {
			var tm team
			if err := json.Unmarshal(v.JSON, &tm); err != nil {
				t.Fatal(err)
			}
			teams[tm.TeamType]++
			levels[tm.TeamType+"/"+tm.Level]++
			if tm.LeaderIDNumber != nil && tm.LeaderPost != nil {
				leaders++
			}
			if tm.TeamType == "shock_team" && *tm.LeaderPost != "处长" {
				t.Errorf("%s led by a %s, want a 处长", tm.TeamID, *tm.LeaderPost)
			}
		}
		members := map[string]int{}
		perTeam := map[string]int{}
		for _, v := range l.Valid["team_member"] {
			var m teamMember
			if err := json.Unmarshal(v.JSON, &m); err != nil {
				t.Fatal(err)
			}
			members[m.TeamType]++
			perTeam[m.TeamID]++
			if m.MemberIDNumber == nil || len(*m.MemberIDNumber) != 18 {
				t.Fatalf("%s: no resident ID number", m.MembershipID)
			}
		}
		communities := len(s.District().communities)
		for _, c := range []struct {
			what      string
			got, want int
		}{
			{"sunk-cadre teams (one per community)", teams["sunk_cadre"], communities},
			{"蒲公英 teams", teams["volunteer"], volunteerTeams},
			{"党员突击队 (one per 乡街)", teams["shock_team"], 8},
			{"扑火队 of the 乡街", levels["fire_team/street"], 8},
			{"扑火队 of the new area", levels["fire_team/new_area"], 2},
			{"扑火队 of the four 开发区", levels["fire_team/dev_zone"], 8},
			{"expert pools", teams["expert_pool"], 4},
			{"shock-team members (8 × 20)", members["shock_team"], 160},
			{"teams with a leader", leaders, len(l.Valid["team"])},
		} {
			if c.got != c.want {
				t.Errorf("scale %v: %s: %d, want %d", scale, c.what, c.got, c.want)
			}
		}
		if v := members["volunteer"]; v < 6000 || v > 7500 {
			t.Errorf("scale %v: %d volunteers, want 6,000+ (the district's measures)", scale, v)
		}
		for id, n := range perTeam {
			if strings.HasPrefix(id, "TJD") && n != shockTeamSize {
				t.Errorf("%s has %d members, want %d", id, n, shockTeamSize)
			}
		}
	}
}

// TestEmergencyTurnout: an emergency calls out members of its street's
// shock and fire teams, whose emergency-duty cards name it; no other card
// is of emergency duty.
func TestEmergencyTurnout(t *testing.T) {
	s := New(Config{Seed: 11, Scale: 0.01, Now: fixed(weekdayPeak())})
	s.Step(30000)
	l := s.Ledger()
	emergencies := map[string]string{} // event id → street
	for id, v := range l.Valid["grid_event"] {
		var ev gridEvent
		if err := json.Unmarshal(v.JSON, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.CategoryMajor == emergencyMajor {
			emergencies[id] = ev.GridCode[:9]
		}
	}
	if len(emergencies) == 0 {
		t.Fatal("no emergency in 30,000 steps")
	}
	turnedOut := map[string]int{}
	for _, v := range l.Valid["team_record"] {
		var tr teamRecord
		if err := json.Unmarshal(v.JSON, &tr); err != nil {
			t.Fatal(err)
		}
		if tr.TaskType != "emergency_duty" {
			continue
		}
		if tr.EventID == nil {
			t.Fatalf("%s: emergency duty without its emergency", tr.RecordID)
		}
		street, ok := emergencies[*tr.EventID]
		if !ok {
			t.Fatalf("%s names %s, not an emergency", tr.RecordID, *tr.EventID)
		}
		if tr.TeamType != "shock_team" && tr.TeamType != "fire_team" {
			t.Errorf("%s: a %s on emergency duty", tr.RecordID, tr.TeamType)
		}
		if strings.HasPrefix(tr.TeamID, "TJD") && tr.TeamID != "TJD"+street {
			t.Errorf("%s: %s turned out in street %s", tr.RecordID, tr.TeamID, street)
		}
		turnedOut[*tr.EventID]++
	}
	for id := range emergencies {
		if n := turnedOut[id]; n < 2 {
			t.Errorf("emergency %s: %d cards, want the street's teams", id, n)
		}
	}
}
