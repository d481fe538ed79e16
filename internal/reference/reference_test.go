package reference

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/yiwang-gov/yiwang/internal/store"
)

func files(m map[string]string) Files {
	return Files{Areas: "areas.csv", GovUnits: "gov_units.csv", SLA: "category_sla.csv", Read: func(name string) ([]byte, error) {
		s, ok := m[name]
		if !ok {
			return nil, fmt.Errorf("%s: no such file", name)
		}
		return []byte(s), nil
	}}
}

// TestLoad: the areas and units land in their tables, the calendar in its
// own, and the known codes are those of the areas file.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir()+"/r.duckdb", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := files(map[string]string{
		"areas.csv": "\xef\xbb\xbfcode,name,level,parent_code\n220173,长春新区,county,\n220173002,北湖街道,street,220173\n" +
			"220173002001,一社区,community,220173002\n",
		"gov_units.csv":    "unit_id,unit_type,parent_id,area_code,name\nU1,leader,,220173002,包保领导\n",
		"category_sla.csv": "platform,category,urgency,work_hours\nproperty,heating,urgent,4\nproperty,heating,normal,8\ngrid,01,normal,7.5\n",
	})
	known, err := Load(ctx, f, st)
	if err != nil {
		t.Fatal(err)
	}
	if !known.Known("220173002001") || known.Known("220173002002") || len(known) != 3 {
		t.Errorf("known codes %v", known)
	}
	var areas, units int
	if err := st.DB().QueryRowContext(ctx, "SELECT (SELECT count(*) FROM areas), (SELECT count(*) FROM gov_units)").Scan(&areas, &units); err != nil {
		t.Fatal(err)
	}
	if areas != 3 || units != 1 {
		t.Errorf("areas %d, units %d; want 3 and 1", areas, units)
	}
	var limits int
	var grid01 float64
	if err := st.DB().QueryRowContext(ctx, "SELECT count(*), sum(work_hours) FILTER (WHERE platform = 'grid' AND category = '01') FROM category_sla").Scan(&limits, &grid01); err != nil {
		t.Fatal(err)
	}
	if limits != 3 || grid01 != 7.5 {
		t.Errorf("category_sla has %d rows and grid 01 %v hours; want 3 and 7.5", limits, grid01)
	}
	cal, err := LoadCalendar(ctx, f, st)
	if err != nil {
		t.Fatal(err)
	}
	first, last := cal.Years()
	var days int
	if err := st.DB().QueryRowContext(ctx, "SELECT count(*) FROM calendar WHERE covered").Scan(&days); err != nil {
		t.Fatal(err)
	}
	if want := (last - first + 1) * 365; days < want || days > want+(last-first+1) {
		t.Errorf("%d covered calendar days for %d–%d", days, first, last)
	}
}

// TestBadFiles: a wrong header or a malformed code is refused with the
// file and line.
func TestBadFiles(t *testing.T) {
	for _, tc := range []struct{ areas, want string }{
		{"code,name,level\n", "areas.csv:1: header must be code,name,level,parent_code"},
		{"code,name,level,parent_code\n220173,新区,county,\n22017300X,街道,street,220173\n", "areas.csv:3: code 22017300X"},
		{"code,name,level,parent_code\n220173,新区\n", "areas.csv"},
	} {
		_, err := ReadAreas(files(map[string]string{"areas.csv": tc.areas}))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("areas %q: err %v, want %q", tc.areas, err, tc.want)
		}
	}
}

// TestBadSLA: every malformed time-limit row is refused with its line and
// what to write instead.
func TestBadSLA(t *testing.T) {
	const h = "platform,category,urgency,work_hours\n"
	for _, tc := range []struct{ sla, want string }{
		{"platform,category,work_hours\n", "category_sla.csv:1: header must be platform,category,urgency,work_hours"},
		{h + "property,fee,normal,16\nhotline,fee,normal,16\n", `category_sla.csv:3: platform "hotline" is not one of grid, police, market, property`},
		{h + "property,,normal,16\n", "category_sla.csv:2: the category is empty"},
		{h + "property,fee,soon,16\n", `category_sla.csv:2: urgency "soon" is not one of urgent, important, normal`},
		{h + "property,fee,normal,0\n", `category_sla.csv:2: work_hours "0" must be`},
		{h + "property,fee,normal,sixteen\n", `category_sla.csv:2: work_hours "sixteen" must be`},
		{h + "property,fee,normal,9000\n", `category_sla.csv:2: work_hours "9000" must be`},
		{h + "property,fee,normal,16\nproperty,fee,normal,8\n", "category_sla.csv:3: property fee normal is also on line 2"},
	} {
		_, err := ReadSLA(files(map[string]string{"category_sla.csv": tc.sla}))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("category_sla %q: err %v, want %q", tc.sla, err, tc.want)
		}
	}
}
