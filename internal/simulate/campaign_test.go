package simulate

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// TestCampaignProgress: the 2026H2 door-knocking campaign over its history
// at the district's pace. Household coverage grows through the half-year,
// most streets are nearly done by December while the lagging one is well
// behind, and no street's households are all reached (some doors never
// open); stores likewise, but for a street with few of them.
func TestCampaignProgress(t *testing.T) {
	t.Parallel()
	now := local(2026, 12, 1, 12, 0)
	s := New(Config{Seed: 20160101, Scale: 0.02, Now: fixed(now), History: now.Sub(local(2026, 7, 1, 0, 0)), HistoryRate: 0.05})
	s.mu.Lock()
	s.backfill(now)
	s.mu.Unlock()
	l := s.Ledger()
	reached := map[string]time.Time{} // target → first reached
	for _, v := range l.Valid["door_visit"] {
		var dv doorVisit
		if err := json.Unmarshal(v.JSON, &dv); err != nil {
			t.Fatal(err)
		}
		if dv.CampaignID != "2026H2" || dv.Outcome != "met" && dv.Outcome != "vacant" {
			continue
		}
		at, err := time.Parse(time.RFC3339, dv.VisitedAt)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := reached[dv.TargetID]; !ok || at.Before(r) {
			reached[dv.TargetID] = at
		}
	}
	coverage := func(ids map[string]string, by time.Time) map[string]float64 { // street → share
		n, hit := map[string]int{}, map[string]int{}
		for id, street := range ids {
			n[street]++
			if at, ok := reached[id]; ok && at.Before(by) {
				hit[street]++
			}
		}
		out := map[string]float64{}
		for st := range n {
			out[st] = float64(hit[st]) / float64(n[st])
		}
		return out
	}
	households, stores := map[string]string{}, map[string]string{}
	for _, h := range s.households {
		households[h.HouseholdID] = h.GridCode[:9]
	}
	for _, st := range s.stores {
		stores[st.StoreID] = st.GridCode[:9]
	}
	values := func(m map[string]float64) []float64 {
		var v []float64
		for _, x := range m {
			v = append(v, x)
		}
		slices.Sort(v)
		return v
	}
	sep, dec := values(coverage(households, local(2026, 9, 1, 0, 0))), values(coverage(households, now))
	st := values(coverage(stores, now))
	t.Logf("household coverage by street, 1 Sep: %.2f; 1 Dec: %.2f; stores 1 Dec: %.2f", sep, dec, st)
	median := func(v []float64) float64 { return v[len(v)/2] }
	if m := median(sep); m < 0.25 || m > 0.6 {
		t.Errorf("median street coverage on 1 Sep %.2f, want 0.25–0.6 (two months of six)", m)
	}
	if m := median(dec); m < 0.8 || m > 0.97 {
		t.Errorf("median street coverage on 1 Dec %.2f, want 0.8–0.97", m)
	}
	if lo, hi := dec[0], dec[len(dec)-1]; hi-lo < 0.12 || hi >= 1 {
		t.Errorf("streets from %.2f to %.2f on 1 Dec: want a lagging street at least 12 points behind and none complete", lo, hi)
	}
	complete := 0
	for _, x := range st {
		if x >= 1 {
			complete++
		}
	}
	if m := median(st); m < 0.6 || m > 0.97 || complete > 2 {
		t.Errorf("store coverage by street %.2f: want a median of 0.6–0.97 and at most two streets (with few stores) complete", st)
	}
}
