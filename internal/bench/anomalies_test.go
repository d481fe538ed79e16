package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/simulate"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

// TestScoreFlags: flags against a hand-made ledger, precision and recall
// counted by hand.
func TestScoreFlags(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	plants := []simulate.Plant{
		{Kind: simulate.PlantIncidentSpike, Subject: "220173002001", Area: "220173002001", From: day(2), To: day(6)},
		{Kind: simulate.PlantIncidentSpike, Subject: "220173003004", Area: "220173003004", From: day(10), To: day(13)},
		{Kind: simulate.PlantOnTimeDrop, Subject: "220173004", Area: "220173004", From: day(1), To: day(29)},
		{Kind: simulate.PlantLaggingPlace, Subject: "220103011", Area: "220103011", From: day(1), To: day(31)},
		{Kind: simulate.PlantInstantClosures, Subject: "WGY1", Area: "220173002001", From: day(2), To: day(16)},
	}
	flags := []Flag{
		// poisson: the first spike twice, its street once (an area
		// holding the plant's), a day after the spike ended, another
		// community: 3 right of 5, 1 of 2 spikes found.
		{Rule: "police_incidents_daily.poisson", Subject: "220173002001", Start: day(3), End: day(4)},
		{Rule: "police_incidents_daily.poisson", Subject: "220173002001", Start: day(4), End: day(5)},
		{Rule: "police_incidents_daily.poisson", Subject: "220173002", Start: day(4), End: day(5)},
		{Rule: "police_incidents_daily.poisson", Subject: "220173002001", Start: day(7), End: day(8)},
		{Rule: "police_incidents_daily.poisson", Subject: "220173005001", Start: day(11), End: day(12)},
		// funnel: the lagging street (meant for it) and the dropping
		// street (which it explains, not finds), and a place with neither.
		{Rule: "event_ontime_closure_rate.funnel", Subject: "220103011", Start: day(1), End: day(31)},
		{Rule: "event_ontime_closure_rate.funnel", Subject: "220173004", Start: day(1), End: day(31)},
		{Rule: "event_ontime_closure_rate.funnel", Subject: "220173005", Start: day(1), End: day(31)},
		// instant closures: another handler in the same community is not
		// the plant (a subject, not an area).
		{Rule: "instant_closures", Subject: "WGY2", Start: day(2), End: day(9)},
		// a plant of the ledger not judged (begun at the history's end):
		// right, though not counted in recall
		{Rule: "police_incidents_daily.poisson", Subject: "220173009001", Start: day(30), End: day(31)},
		// a rule no kind is meant for is not scored
		{Rule: "urgent_overdue", Subject: "E1", Start: day(1), End: day(31)},
	}
	ledger := append(slices.Clone(plants), simulate.Plant{Kind: simulate.PlantIncidentSpike, Subject: "220173009001", Area: "220173009001", From: day(30), To: day(31)})
	detectors, kinds := ScoreFlags(ledger, plants, flags)
	want := map[string]Score{
		"police_incidents_daily.poisson":   {Flags: 6, Right: 4, Plants: 2, Found: 1},
		"police_incidents_daily.robust":    {Flags: 0, Right: 0, Plants: 2, Found: 0},
		"event_ontime_closure_rate.funnel": {Flags: 3, Right: 2, Plants: 1, Found: 1},
		"event_ontime_closure_rate.drop":   {Flags: 0, Right: 0, Plants: 1, Found: 0},
		"instant_closures":                 {Flags: 1, Right: 0, Plants: 1, Found: 0},
	}
	for _, s := range detectors {
		w, ok := want[s.Name]
		if !ok {
			if s.Flags != 0 || s.Plants != 0 {
				t.Errorf("%s: %+v, want nothing", s.Name, s)
			}
			continue
		}
		w.Name = s.Name
		if s != w {
			t.Errorf("%s: %+v, want %+v", s.Name, s, w)
		}
	}
	if p := (Score{Flags: 5, Right: 3}).Precision(); p != 0.6 {
		t.Errorf("precision %v", p)
	}
	if r := (Score{Plants: 2, Found: 1}).Recall(); r != 0.5 {
		t.Errorf("recall %v", r)
	}
	byKind := map[string]Score{}
	for _, s := range kinds {
		byKind[s.Name] = s
	}
	// The drop is explained by the funnel's flag but not found: no
	// detector meant to find it flagged it.
	if s := byKind[simulate.PlantOnTimeDrop]; s.Plants != 1 || s.Found != 0 {
		t.Errorf("ontime_drop: %+v", s)
	}
	if s := byKind[simulate.PlantIncidentSpike]; s.Plants != 2 || s.Found != 1 || s.Flags != 6 || s.Right != 4 {
		t.Errorf("incident_spike: %+v", s)
	}
	right := 0
	for _, f := range flags {
		if f.Right {
			right++
		}
	}
	if right != 6 {
		t.Errorf("%d flags marked right, want 6", right)
	}
}

// TestJudged: plants begun in the warm-up, just begun, without their visit
// or short of four events are not judged; a standing one is, if clearly
// lagging.
func TestJudged(t *testing.T) {
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	plants := []simulate.Plant{
		{Kind: simulate.PlantIncidentSpike, Subject: "a", From: from.Add(-time.Hour)},
		{Kind: simulate.PlantIncidentSpike, Subject: "b", From: from.Add(time.Hour)},
		{Kind: simulate.PlantIncidentSpike, Subject: "c", From: to.Add(-24 * time.Hour)},
		{Kind: simulate.PlantCancelledVisited, Subject: "d", From: from.Add(time.Hour), Records: []string{"e"}},
		{Kind: simulate.PlantCancelledVisited, Subject: "e", From: from.Add(time.Hour), Records: []string{"e", "v"}},
		{Kind: simulate.PlantLaggingPlace, Subject: "220173001", From: from.AddDate(0, -3, 0), Magnitude: 0.6},
		{Kind: simulate.PlantLaggingPlace, Subject: "220173001006", From: from.AddDate(0, -3, 0), Magnitude: 0.33}, // between 2 and 2.5 spreads
		{Kind: simulate.PlantLaggingPlace, Subject: "220173001007", From: from.AddDate(0, -3, 0), Magnitude: 0.4},
		{Kind: simulate.PlantRepeatBuilding, Subject: "g", From: from.Add(time.Hour), Records: []string{"1", "2", "3"}},
		{Kind: simulate.PlantRepeatBuilding, Subject: "h", From: from.Add(time.Hour), Records: []string{"1", "2", "3", "4"}},
	}
	var got []string
	for _, p := range Judged(plants, from, to) {
		got = append(got, p.Subject)
	}
	if want := []string{"b", "e", "220173001", "220173001007", "h"}; !slices.Equal(got, want) {
		t.Errorf("judged %v, want %v", got, want)
	}
}

// TestPeerScores: the plain z-score on a community's incidents per day, 2
// a day and 10 on the day of a planted spike, flags that day (the 14 days
// before have no spread); on a community with one day of 8 after nothing,
// it flags that day too, which is no plant: precision 1/2, recall 1/1.
func TestPeerScores(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "peer.duckdb"), store.Options{Threads: 1, MemoryBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.MigrateSchemas(ctx, reg); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, calendar.Zone)
	n := 0
	add := func(grid string, day, count int) {
		for range count {
			n++
			if _, err := st.DB().ExecContext(ctx, `INSERT INTO police_incidents (incident_id, grid_code, is_valid, received_at, updated_at, call_type, category_l1, station_code) VALUES (?, ?, true, ?, ?, 'report', 'dispute', 'S1')`,
				fmt.Sprintf("P%d", n), grid, start.AddDate(0, 0, day).Add(10*time.Hour), start.AddDate(0, 0, day).Add(10*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for d := range 30 {
		add("220173002001001", d, map[bool]int{true: 10, false: 2}[d == 20])
	}
	add("220173003004001", 25, 8)
	spike := simulate.Plant{Kind: simulate.PlantIncidentSpike, Subject: "220173002001", Area: "220173002001",
		From: start.AddDate(0, 0, 20), To: start.AddDate(0, 0, 21)}
	scores, err := PeerScores(ctx, st.DB(), []simulate.Plant{spike}, []simulate.Plant{spike}, start, start, start.AddDate(0, 0, 30))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scores {
		if s.Name != simulate.PlantIncidentSpike {
			continue
		}
		if s.Flags != 2 || s.Right != 1 || s.Plants != 1 || s.Found != 1 {
			t.Errorf("peer on incident spikes: %+v, want 2 flags, 1 right, 1 of 1 found", s)
		}
		return
	}
	t.Fatalf("no peer score for incident spikes: %+v", scores)
}
