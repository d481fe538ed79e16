package simulate

import (
	"bytes"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/schemas"
)

// TestEventGenerator: every event is valid and in the district, the same
// index gives the same bytes, and the stream has the simulator's mix.
func TestEventGenerator(t *testing.T) {
	reg := registry(t)
	sc, _ := reg.Get("grid_event")
	d := NewDistrict(7, 0.01)
	gen := NewEventGenerator(d, 7)
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	const n = 5000
	grids := map[string]int{}
	urgency := map[string]int{}
	described := 0
	for i := range n {
		at := base.Add(time.Duration(i) * time.Minute)
		raw := gen.Append(nil, i, at)
		if again := gen.Append(nil, i, at); !bytes.Equal(raw, again) {
			t.Fatalf("event %d differs between two calls:\n%s\n%s", i, raw, again)
		}
		obj, err := schemas.Decode(raw)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if err := sc.Validate(obj, d, at.Add(time.Minute)); err != nil {
			t.Fatalf("event %d invalid: %v\n%s", i, err, raw)
		}
		if obj["event_id"] != gen.ID(i) {
			t.Fatalf("event %d has id %v, want %s", i, obj["event_id"], gen.ID(i))
		}
		grids[obj["grid_code"].(string)]++
		urgency[obj["urgency"].(string)]++
		if obj["description"] != nil {
			described++
		}
	}
	if len(grids) < len(d.Grids())/2 {
		t.Errorf("%d events fell in %d of %d grids", n, len(grids), len(d.Grids()))
	}
	// Urgency as reporters file it: most normal, about a quarter important,
	// a few urgent (more where the category is urgent by nature).
	if s := float64(urgency["normal"]) / n; s < 0.55 || s > 0.8 {
		t.Errorf("normal share %.2f, want 0.55..0.80 (%v)", s, urgency)
	}
	if s := float64(urgency["urgent"]) / n; s < 0.02 || s > 0.2 {
		t.Errorf("urgent share %.2f, want 0.02..0.20 (%v)", s, urgency)
	}
	if s := float64(described) / n; s < 0.85 || s > 0.95 {
		t.Errorf("described share %.2f, want about 0.9", s)
	}
}

func BenchmarkEventGenerator(b *testing.B) {
	gen := NewEventGenerator(NewDistrict(7, 0.01), 7)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var buf []byte
	for i := 0; b.Loop(); i++ {
		buf = gen.Append(buf[:0], i, at)
	}
	b.SetBytes(int64(len(buf)))
}
