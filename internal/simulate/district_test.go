package simulate

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/yiwang-gov/yiwang/schemas"
)

func readReference(t *testing.T, d *District) (areas, units []byte) {
	t.Helper()
	dir := t.TempDir()
	if err := d.WriteReference(dir); err != nil {
		t.Fatal(err)
	}
	areas, err := os.ReadFile(filepath.Join(dir, "areas.csv"))
	if err != nil {
		t.Fatal(err)
	}
	units, err = os.ReadFile(filepath.Join(dir, "gov_units.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return areas, units
}

func TestReferenceDeterministic(t *testing.T) {
	baseAreas, baseUnits := readReference(t, NewDistrict(7, 0.01))
	for _, tc := range []struct {
		name  string
		seed  int64
		scale float64
		same  bool
	}{
		{"same seed", 7, 0.01, true},
		{"same seed, other scale", 7, 1, true},
		{"other seed", 8, 0.01, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			areas, units := readReference(t, NewDistrict(tc.seed, tc.scale))
			if got := bytes.Equal(areas, baseAreas) && bytes.Equal(units, baseUnits); got != tc.same {
				t.Fatalf("reference identical = %v, want %v", got, tc.same)
			}
		})
	}
}

func TestDistrictShape(t *testing.T) {
	d := NewDistrict(3, 0.05)
	if got := len(d.Streets()); got != 8 {
		t.Fatalf("%d streets, want 8", got)
	}
	children := map[string]int{}
	for _, c := range d.Communities() {
		children[c.Parent]++
	}
	for _, g := range d.Grids() {
		children[g.Parent]++
	}
	for _, tc := range []struct {
		level string
		areas []Area
		len   int
	}{
		{"street", d.Streets(), 9},
		{"community", d.Communities(), 12},
		{"grid", d.Grids(), 15},
	} {
		t.Run(tc.level, func(t *testing.T) {
			for _, a := range tc.areas {
				if len(a.Code) != tc.len || schemas.AreaCodeFormat(a.Code) != nil {
					t.Errorf("%s code %q is malformed", tc.level, a.Code)
				}
				if !d.Known(a.Code) {
					t.Errorf("%s %s not Known", tc.level, a.Code)
				}
				if tc.level != "street" && !strings.HasPrefix(a.Code, a.Parent) {
					t.Errorf("%s %s does not extend its parent %s", tc.level, a.Code, a.Parent)
				}
				if tc.level != "grid" {
					if n := children[a.Code]; n < 5 || n > 15 {
						t.Errorf("%s %s has %d children, want 5-15", tc.level, a.Code, n)
					}
				}
			}
		})
	}
	for _, code := range []string{"220173", "220173002599", "220173002599001", "220173009"} {
		if d.Known(code) {
			t.Errorf("Known(%s) = true", code)
		}
	}
	room := regexp.MustCompile(`^[1-9][0-9]{11}[0-9]{5}-[0-9]{2}-[0-9]{4}$`)
	seen := map[string]bool{}
	for _, g := range d.grids {
		for _, r := range g.rooms {
			if !room.MatchString(r) || !strings.HasPrefix(r, g.Parent) || seen[r] {
				t.Fatalf("room code %q of grid %s is malformed or repeated", r, g.Code)
			}
			seen[r] = true
		}
	}
	perGrid := float64(NewDistrict(3, 1).Households()) / float64(len(d.grids))
	if perGrid < 150 || perGrid > 450 {
		t.Errorf("%.0f households per grid at scale 1, want a few hundred", perGrid)
	}
	if got := float64(d.Households()) / float64(len(d.grids)); got < perGrid*0.04 || got > perGrid*0.06 {
		t.Errorf("%.1f households per grid at scale 0.05, want about %.1f", got, perGrid*0.05)
	}
}

func TestGovUnits(t *testing.T) {
	_, units := readReference(t, NewDistrict(1, 0.01))
	rows, err := csv.NewReader(bytes.NewReader(units)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "unit_id,unit_type,parent_id,area_code,name" {
		t.Fatalf("header %s", got)
	}
	byID := map[string][]string{}
	for _, r := range rows[1:] {
		byID[r[0]] = r
	}
	devZoneOf := func(street string) string {
		u := byID["st-"+street]
		if u == nil {
			t.Fatalf("street %s missing", street)
		}
		return byID[u[2]][4]
	}
	for _, tc := range []struct{ street, zone string }{
		{"220173001", "长春高新技术产业开发区"},
		{"220173002", "北湖科技开发区"},
		{"220173200", "长春高新技术产业开发区"},
		{"220103011", "长德经济开发区"},
		{"220113012", "空港经济开发区"},
	} {
		if got := devZoneOf(tc.street); got != tc.zone {
			t.Errorf("street %s under %q, want %q", tc.street, got, tc.zone)
		}
	}
	for _, r := range rows[1:] {
		switch r[1] {
		case "new_area":
			if r[2] != "" || r[3] != "" {
				t.Errorf("new area row %v", r)
			}
		case "dev_zone":
			if r[2] != "ccna" || r[3] != "" {
				t.Errorf("dev zone row %v", r)
			}
		case "street", "community":
			if byID[r[2]] == nil || r[3] == "" {
				t.Errorf("row %v has no parent or area code", r)
			}
		default:
			t.Errorf("unexpected unit type in %v", r)
		}
	}
}
