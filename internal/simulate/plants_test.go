package simulate

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/schemas"
)

func plantedHistory(t *testing.T, seed int64) *Simulator {
	t.Helper()
	now := local(2026, 11, 20, 12, 0)
	s := New(Config{Seed: seed, Scale: 0.01, Now: fixed(now), History: 45 * 24 * time.Hour, HistoryRate: 0.03, Anomalies: 1})
	s.mu.Lock()
	s.backfill(now)
	s.mu.Unlock()
	return s
}

// TestPlantsReproducible: every kind is planted within a history as long
// as the mean gap, the same seed gives the same ledger, and each plant's
// records are in the source systems, where and when the ledger says.
func TestPlantsReproducible(t *testing.T) {
	t.Parallel()
	a, b := plantedHistory(t, 9), plantedHistory(t, 9)
	pa, pb := a.Plants(), b.Plants()
	if !reflect.DeepEqual(pa, pb) {
		t.Fatal("the same seed planted different anomalies")
	}
	kinds := map[string]int{}
	for _, p := range pa {
		kinds[p.Kind]++
	}
	for _, k := range PlantKinds() {
		if kinds[k] == 0 {
			t.Errorf("no %s planted in 45 days (%v)", k, kinds)
		}
	}
	l := a.Ledger()
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pa { // what the plants made passes the schemas like any record
		for _, id := range p.Records {
			for typ, recs := range l.Valid {
				if v, ok := recs[id]; ok {
					sc, _ := reg.Get(typ)
					obj, err := v.Record()
					if err == nil {
						err = sc.Validate(obj, a.District(), local(2026, 11, 20, 12, 0))
					}
					if err != nil {
						t.Errorf("%s %s: %s %s: %v", p.Kind, p.Subject, typ, id, err)
					}
				}
			}
		}
	}
	for _, p := range pa {
		t.Logf("%-18s %-32s %s – %s  magnitude %5.2f  %d records", p.Kind, p.Subject, p.From.Format("01-02 15:04"), p.To.Format("01-02 15:04"), p.Magnitude, len(p.Records))
		switch p.Kind {
		case PlantIncidentSpike:
			for _, id := range p.Records {
				var pi policeIncident
				mustRecord(t, l, "police_incident", id, &pi)
				if pi.GridCode[:12] != p.Area {
					t.Errorf("%s %s: incident %s in %s", p.Kind, p.Area, id, pi.GridCode)
				}
			}
			if len(p.Records) < 3 {
				t.Errorf("%s %s: only %d incidents", p.Kind, p.Area, len(p.Records))
			}
		case PlantInstantClosures:
			for _, id := range p.Records {
				var ev gridEvent
				mustRecord(t, l, "grid_event", id, &ev)
				if ev.HandlerID == nil || *ev.HandlerID != p.Subject {
					t.Errorf("%s: event %s handled by %v", p.Subject, id, ev.HandlerID)
				}
			}
		case PlantRepeatBuilding:
			if len(p.Records) < 2 {
				t.Errorf("%s at %s: %d events", p.Kind, p.Subject, len(p.Records))
			}
			for _, id := range p.Records {
				var ev gridEvent
				mustRecord(t, l, "grid_event", id, &ev)
				if ev.BuildingCode == nil || *ev.BuildingCode != p.Subject {
					t.Errorf("%s: event %s at %v", p.Subject, id, ev.BuildingCode)
				}
			}
		case PlantVisitorOverload:
			if float64(len(p.Records)) != p.Magnitude || p.Magnitude <= 12 {
				t.Errorf("%s: %d visits, magnitude %v", p.Subject, len(p.Records), p.Magnitude)
			}
			for _, id := range p.Records {
				var v doorVisit
				mustRecord(t, l, "door_visit", id, &v)
				at, _ := time.Parse(time.RFC3339, v.VisitedAt)
				if *v.VisitorID != p.Subject || at.Before(p.From.Add(-time.Minute)) || at.After(p.To) {
					t.Errorf("%s: visit %s by %s at %s, outside %s–%s", p.Subject, id, *v.VisitorID, at, p.From, p.To)
				}
			}
		case PlantCancelledVisited:
			if len(p.Records) < 2 {
				break // cancelled at the history's end: the visit is still to come
			}
			var e marketEntity
			mustRecord(t, l, "market_entity", p.Records[0], &e)
			var v doorVisit
			mustRecord(t, l, "door_visit", p.Records[1], &v)
			// Judged by the date it was cancelled: the record may have
			// changed since (an inspection's result).
			visited, _ := time.Parse(time.RFC3339, v.VisitedAt)
			day := visited.In(calendar.Zone).Format(time.DateOnly)
			if e.RegStatus != "cancelled" || e.StatusOn == nil || v.TargetID != p.Subject || v.Outcome != "met" || day < *e.StatusOn {
				t.Errorf("%s: entity %s %s on %v, visit to %s %s at %s", p.Kind, e.USCI, e.RegStatus, e.StatusOn, v.TargetID, v.Outcome, visited)
			}
		case PlantShellCluster:
			n := 0
			for _, id := range p.Records {
				var e marketEntity
				if json.Unmarshal(l.Valid["market_entity"][id].JSON, &e) == nil && e.RegAddress != nil && *e.RegAddress == p.Subject {
					n++
				}
			}
			if float64(n) != p.Magnitude {
				t.Errorf("%s %s: %d entities at the address, magnitude %v", p.Kind, p.Subject, n, p.Magnitude)
			}
		}
	}
}

func mustRecord(t *testing.T, l Ledger, typ, id string, v any) {
	t.Helper()
	rec, ok := l.Valid[typ][id]
	if !ok {
		t.Fatalf("%s %s is not in the source", typ, id)
	}
	if err := json.Unmarshal(rec.JSON, v); err != nil {
		t.Fatal(err)
	}
}

// The ledger is served beside the source systems, behind their token.
func TestPlantsServed(t *testing.T) {
	s := plantedHistory(t, 9)
	s.cfg.Token = "tok"
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/simulator/plants", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("without the token: %v %v", resp, err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []Plant
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if want := s.Plants(); len(got) != len(want) || len(got) == 0 || got[0].Kind != want[0].Kind || !got[0].From.Equal(want[0].From) {
		t.Fatalf("served %d plants, want %d", len(got), len(want))
	}
}
