package simulate

import (
	"encoding/json"
	"testing"
	"time"
)

// TestSeasons: the same district in July and in January. Waterlogging and
// night-time police calls peak in summer, heating complaints in winter
// (none outside the heating season), fires in the dry spring.
func TestSeasons(t *testing.T) {
	count := func(at time.Time, n int) (events map[string]int, police int) {
		s := New(Config{Seed: 3, Scale: 0.005, Now: fixed(at)})
		s.Step(n)
		events = map[string]int{}
		for _, v := range s.Ledger().Valid["grid_event"] {
			var ev gridEvent
			if err := json.Unmarshal(v.JSON, &ev); err != nil {
				t.Fatal(err)
			}
			events[ev.CategoryMajor+*ev.CategoryMinor]++
		}
		return events, s.Counts()["police_incident"].Valid
	}
	julyDay, _ := count(local(2026, 7, 15, 10, 0), 20000)
	janDay, _ := count(local(2026, 1, 14, 10, 0), 20000)
	aprDay, _ := count(local(2026, 4, 15, 10, 0), 20000)
	_, julyNight := count(local(2026, 7, 15, 23, 30), 8000)
	_, janNight := count(local(2026, 1, 14, 23, 30), 8000)
	t.Logf("waterlogging Jul %d Jan %d; heating Jul %d Jan %d; fire Apr %d Jul %d; night police Jul %d Jan %d",
		julyDay["0103"], janDay["0103"], julyDay["0601"], janDay["0601"], aprDay["0801"], julyDay["0801"], julyNight, janNight)
	if julyDay["0103"] < 10*max(janDay["0103"], 1) {
		t.Errorf("waterlogging: %d in July, %d in January; want the summer rains", julyDay["0103"], janDay["0103"])
	}
	if julyDay["0601"] != 0 || janDay["0601"] < 100 {
		t.Errorf("heating complaints: %d in July, %d in January; want none out of season", julyDay["0601"], janDay["0601"])
	}
	if aprDay["0801"] < 3*max(julyDay["0801"], 1) {
		t.Errorf("fires: %d in April, %d in July; want the spring fire season", aprDay["0801"], julyDay["0801"])
	}
	if float64(julyNight) < 1.2*float64(janNight) {
		t.Errorf("police calls at night: %d in July, %d in January; want more on summer nights", julyNight, janNight)
	}
}
