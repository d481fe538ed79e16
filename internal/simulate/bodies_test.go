package simulate

import (
	"bytes"
	"fmt"
	"testing"
)

// TestBodiesRewrite stores many versions of a few records, enough garbage
// for the body file to be rewritten several times, and reads every
// record's latest version back, through pages as a connector would.
func TestBodiesRewrite(t *testing.T) {
	tb := newTable("grid_event", t.TempDir())
	pad := bytes.Repeat([]byte("x"), 4000)
	const records, versions = 100, 200 // 80 MB written, 0.4 MB live
	latest := map[string][]byte{}
	ts := int64(0)
	for v := range versions {
		for r := range records {
			ts++
			id := fmt.Sprintf("GE%04d", r)
			raw := fmt.Appendf(nil, `{"event_id":%q,"v":%d,"pad":%q}`, id, v, pad)
			if err := tb.put(id, ts, raw, ""); err != nil {
				t.Fatal(err)
			}
			latest[id] = raw
		}
	}
	if tb.bodies.size > 2*compactAt {
		t.Errorf("body file holds %d bytes for %d live ones: never rewritten", tb.bodies.size, records*4100)
	}
	raws, more, _, err := tb.page(start(), 2*records)
	if err != nil {
		t.Fatal(err)
	}
	if more || len(raws) != records {
		t.Fatalf("page: %d records (more %v), want %d", len(raws), more, records)
	}
	for _, raw := range raws {
		id := string(raw[len(`{"event_id":"`) : len(`{"event_id":"`)+6])
		if !bytes.Equal(raw, latest[id]) {
			t.Fatalf("%s: read back %.60s..., want %.60s...", id, raw, latest[id])
		}
	}
}
