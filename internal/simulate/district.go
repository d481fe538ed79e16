package simulate

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Area is one node of the statistical code tree: a street (乡街, 9 digits), a
// community (社区 or 村, 12 digits) or a grid (网格, 15 digits).
type Area struct {
	Code   string
	Name   string
	Parent string // the code of the enclosing area
}

// District is the synthetic demo district modelled on Changchun New Area: eight
// real streets with synthesised communities, grids, buildings and households
// under them, and the responsibility hierarchy 新区 → 开发区 → 乡街 → 社区.
//
// The code tree (streets, communities, grids, buildings) depends only on the
// seed; the scale changes how many households, stores and market entities a
// grid holds, never how many communities or grids there are.
type District struct {
	seed        int64
	scale       float64
	streets     []street
	communities []community
	grids       []*grid
	known       map[string]bool
}

type street struct {
	Area
	county   string
	devZone  int // index into devZones()
	township bool
	lon, lat float64
}

type community struct {
	Area
	street int
}

type grid struct {
	Area
	street, community int
	lon, lat          float64
	buildings         []building
	// rooms are the occupied rooms at this scale, in building, unit, room
	// order; each becomes a household.
	rooms    []string
	stores   int
	entities int
}

type building struct {
	code     string
	units    int
	floors   int
	perFloor int
}

// streetDef is one of the eight streets of the demo district.
type streetDef struct {
	code, name, county string
	devZone            int
	lon, lat           float64 // approximate centre, WGS 84
}

// streetTable lists the demo district's streets. Codes and names are the
// 国家统计局 统计用区划代码 (2023 edition) as copied from the project's shared
// reference data, data/areas/changchun_2023.csv (compiled by
// github.com/modood/Administrative-divisions-of-China). The development-zone
// assignment is the responsibility hierarchy, which is not in the code tree.
// Coordinates are rough centres for plausible map points only.
func streetTable() []streetDef {
	return []streetDef{
		{"220103011", "长德街道", "220103", 2, 125.470, 44.030},
		{"220113012", "龙嘉街道", "220113", 3, 125.700, 43.990},
		{"220173001", "硅谷街道", "220173", 0, 125.225, 43.840},
		{"220173002", "北湖街道", "220173", 1, 125.420, 43.960},
		{"220173003", "超越街道", "220173", 0, 125.260, 43.820},
		{"220173004", "飞跃街道", "220173", 0, 125.285, 43.850},
		{"220173005", "双德街道", "220173", 0, 125.190, 43.800},
		{"220173200", "奋进乡", "220173", 0, 125.150, 43.860},
	}
}

// countyTable lists the county-level parents of the streets, from the same
// source as streetTable.
func countyTable() []Area {
	return []Area{
		{Code: "220103", Name: "宽城区", Parent: "2201"},
		{Code: "220113", Name: "九台区", Parent: "2201"},
		{Code: "220173", Name: "长春高新技术产业开发区", Parent: "2201"},
	}
}

// devZone is one of the four development zones of Changchun New Area.
type devZone struct{ id, name string }

// devZones lists the development zones under the new area (高新、北湖、长德、
// 空港); they are management layers without statistical codes.
func devZones() []devZone {
	return []devZone{
		{"ccna-gx", "长春高新技术产业开发区"},
		{"ccna-bh", "北湖科技开发区"},
		{"ccna-cd", "长德经济开发区"},
		{"ccna-kg", "空港经济开发区"},
	}
}

// communityStems are the name stems of synthesised urban communities.
func communityStems() []string {
	return []string{
		"锦湖", "明珠", "丰泽", "盛世", "华园", "翠湖", "金湖", "兴华", "青年", "和平",
		"宏达", "光明", "振兴", "新城", "顺达", "龙湖", "天富", "博硕", "慧谷", "创业",
		"育才", "东湖", "南湖", "湖畔", "嘉惠", "富锦", "安居", "乐园", "阳光", "春城",
		"卓越", "光谷", "智造", "汇通", "锦程", "鼎盛", "溪谷", "雍景", "澜湾", "泊岸",
		"芳园", "桂园", "松苑", "梅苑", "兰苑", "竹苑", "枫林", "杏林", "鹿鸣", "鸿儒",
		"书香", "学府", "怡景", "悦湖", "云栖", "星河", "蓝山", "晴川", "泉水", "康宁",
	}
}

// villageNames are the names of synthesised villages (村委会) under a 乡.
func villageNames() []string {
	return []string{
		"红旗村", "永丰村", "太平村", "长岭村", "新立村", "胜利村", "东升村", "前进村",
		"兴隆村", "双山村", "富民村", "合心村", "德胜村", "靠山村", "三合村", "五星村",
	}
}

// NewDistrict builds the district deterministically from seed. scale
// multiplies the households (a few hundred per grid at 1.0), stores and market
// entities of each grid; a scale of 0 or less is taken as 1.
func NewDistrict(seed int64, scale float64) *District {
	if scale <= 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
		scale = 1
	}
	d := &District{seed: seed, scale: scale, known: map[string]bool{}}
	// Two streams: the code tree must not change with the scale.
	tree := rand.New(rand.NewPCG(uint64(seed), 0x7265652d74726565))
	pop := rand.New(rand.NewPCG(uint64(seed), 0x706f70756c617465))
	for _, sd := range streetTable() {
		st := street{
			Area:     Area{Code: sd.code, Name: sd.name, Parent: sd.county},
			county:   sd.county,
			devZone:  sd.devZone,
			township: sd.code[6] == '2' || sd.code[6] == '3', // 200–399: 乡
			lon:      sd.lon,
			lat:      sd.lat,
		}
		si := len(d.streets)
		d.streets = append(d.streets, st)
		d.known[st.Code] = true
		nComm := 5 + tree.IntN(11)
		var names []string
		if st.township {
			names = pick(tree, villageNames(), nComm)
		} else {
			names = pick(tree, communityStems(), nComm)
			for i := range names {
				names[i] += "社区"
			}
		}
		for c := 0; c < nComm; c++ {
			seq := 1 + c // 001–199: 居委会
			if st.township {
				seq = 201 + c // 200–399: 村委会
			}
			cm := community{
				Area:   Area{Code: fmt.Sprintf("%s%03d", st.Code, seq), Name: names[c], Parent: st.Code},
				street: si,
			}
			ci := len(d.communities)
			d.communities = append(d.communities, cm)
			d.known[cm.Code] = true
			d.addGrids(tree, pop, st, si, cm, ci)
		}
	}
	return d
}

// addGrids synthesises the grids of one community with their buildings and,
// at the district's scale, households, stores and market entities.
func (d *District) addGrids(tree, pop *rand.Rand, st street, si int, cm community, ci int) {
	nGrid := 5 + tree.IntN(11)
	lon := st.lon + (tree.Float64()-0.5)*0.06
	lat := st.lat + (tree.Float64()-0.5)*0.04
	nextBuilding := 1
	for g := 1; g <= nGrid; g++ {
		gr := &grid{
			Area:      Area{Code: fmt.Sprintf("%s%03d", cm.Code, g), Name: fmt.Sprintf("%s第%d网格", cm.Name, g), Parent: cm.Code},
			street:    si,
			community: ci,
			lon:       round6(lon + (tree.Float64()-0.5)*0.012),
			lat:       round6(lat + (tree.Float64()-0.5)*0.008),
		}
		// Physical structure at full scale: a few hundred households in
		// buildings filled to about 90%.
		full := 150 + tree.IntN(301)
		capacity := 0
		for float64(capacity)*0.9 < float64(full) {
			b := building{code: fmt.Sprintf("%s%05d", cm.Code, nextBuilding)}
			nextBuilding++
			switch {
			case st.township:
				b.units, b.floors, b.perFloor = 1+tree.IntN(2), 2+tree.IntN(4), 2
			case tree.IntN(10) < 6:
				b.units, b.floors, b.perFloor = 2+tree.IntN(3), 6+tree.IntN(2), 2
			default:
				b.units, b.floors, b.perFloor = 1+tree.IntN(3), 11+tree.IntN(20), 2+tree.IntN(3)
			}
			gr.buildings = append(gr.buildings, b)
			capacity += b.units * b.floors * b.perFloor
		}
		storesFull := 8 + tree.IntN(23)
		entitiesFull := 10 + tree.IntN(51)
		// Population at this scale.
		n := min(stochRound(pop, float64(full)*d.scale), capacity)
		gr.rooms = chooseRooms(pop, gr.buildings, capacity, n)
		gr.stores = stochRound(pop, float64(storesFull)*d.scale)
		gr.entities = stochRound(pop, float64(entitiesFull)*d.scale)
		d.grids = append(d.grids, gr)
		d.known[gr.Code] = true
	}
}

// chooseRooms picks n distinct rooms among the buildings' capacity rooms and
// returns their room codes in order.
func chooseRooms(rng *rand.Rand, bs []building, capacity, n int) []string {
	if n <= 0 {
		return nil
	}
	idx := make([]int, capacity)
	for i := range idx {
		idx[i] = i
	}
	for i := 0; i < n; i++ { // partial Fisher–Yates
		j := i + rng.IntN(capacity-i)
		idx[i], idx[j] = idx[j], idx[i]
	}
	chosen := slices.Clone(idx[:n])
	slices.Sort(chosen)
	rooms := make([]string, 0, n)
	bi, base := 0, 0
	for _, k := range chosen {
		for k >= base+bs[bi].units*bs[bi].floors*bs[bi].perFloor {
			base += bs[bi].units * bs[bi].floors * bs[bi].perFloor
			bi++
		}
		b := bs[bi]
		off := k - base
		perUnit := b.floors * b.perFloor
		unit := 1 + off/perUnit
		floor := 1 + (off%perUnit)/b.perFloor
		door := 1 + off%b.perFloor
		rooms = append(rooms, fmt.Sprintf("%s-%02d-%02d%02d", b.code, unit, floor, door))
	}
	return rooms
}

// pick returns n distinct elements of from in random order.
func pick(rng *rand.Rand, from []string, n int) []string {
	p := rng.Perm(len(from))
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, from[p[i%len(p)]])
	}
	return out
}

// stochRound rounds x down or up at random so that the expectation is x.
func stochRound(rng *rand.Rand, x float64) int {
	f := math.Floor(x)
	if rng.Float64() < x-f {
		f++
	}
	return int(f)
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// Scale returns the scale the district was built with.
func (d *District) Scale() float64 { return d.scale }

// Streets returns the streets (乡街) in code order.
func (d *District) Streets() []Area {
	out := make([]Area, len(d.streets))
	for i, s := range d.streets {
		out[i] = s.Area
	}
	return out
}

// Communities returns the communities and villages in code order.
func (d *District) Communities() []Area {
	out := make([]Area, len(d.communities))
	for i, c := range d.communities {
		out[i] = c.Area
	}
	return out
}

// Grids returns the grids in code order.
func (d *District) Grids() []Area {
	out := make([]Area, len(d.grids))
	for i, g := range d.grids {
		out[i] = g.Area
	}
	return out
}

// Households returns how many households the district holds at its scale.
func (d *District) Households() int {
	n := 0
	for _, g := range d.grids {
		n += len(g.rooms)
	}
	return n
}

// Known reports whether code is a street, community or grid code of the
// district. It makes a District usable as schemas.Areas.
func (d *District) Known(code string) bool { return d.known[code] }

// WriteReference writes the reference tables into dir (created if missing):
// areas.csv (code,name,level,parent_code; levels county, street, community,
// grid), gov_units.csv (unit_id,unit_type,parent_id,area_code,name; unit
// types new_area, dev_zone, street, community) and category_sla.csv
// (platform,category,urgency,work_hours: SLATable). All are sorted and
// depend only on the seed, so the same seed gives byte-identical files.
func (d *District) WriteReference(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create reference directory: %w", err)
	}
	areas, err := d.areasCSV()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "areas.csv"), areas, 0o644); err != nil {
		return fmt.Errorf("write areas.csv: %w", err)
	}
	units, err := d.govUnitsCSV()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "gov_units.csv"), units, 0o644); err != nil {
		return fmt.Errorf("write gov_units.csv: %w", err)
	}
	limits, err := slaCSV()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "category_sla.csv"), limits, 0o644); err != nil {
		return fmt.Errorf("write category_sla.csv: %w", err)
	}
	return nil
}

// slaCSV is the time-limit table the simulated platforms use, one row per
// platform, category and urgency.
func slaCSV() ([]byte, error) {
	var rows [][]string
	for _, r := range SLATable() {
		for _, u := range []struct {
			name  string
			hours float64
		}{{"urgent", r.Urg}, {"important", r.Important}, {"normal", r.Normal}} {
			rows = append(rows, []string{r.Platform, r.Category, u.name, strconv.FormatFloat(u.hours, 'f', -1, 64)})
		}
	}
	return writeCSV("category_sla.csv", []string{"platform", "category", "urgency", "work_hours"}, rows)
}

func (d *District) areasCSV() ([]byte, error) {
	rows := [][]string{}
	for _, c := range countyTable() {
		rows = append(rows, []string{c.Code, c.Name, "county", c.Parent})
	}
	for _, s := range d.streets {
		rows = append(rows, []string{s.Code, s.Name, "street", s.Parent})
	}
	for _, c := range d.communities {
		rows = append(rows, []string{c.Code, c.Name, "community", c.Parent})
	}
	for _, g := range d.grids {
		rows = append(rows, []string{g.Code, g.Name, "grid", g.Parent})
	}
	slices.SortFunc(rows, func(a, b []string) int { return cmp.Compare(a[0], b[0]) })
	return writeCSV("areas.csv", []string{"code", "name", "level", "parent_code"}, rows)
}

func (d *District) govUnitsCSV() ([]byte, error) {
	const newArea = "ccna"
	rows := [][]string{{newArea, "new_area", "", "", "长春新区"}}
	for _, z := range devZones() {
		rows = append(rows, []string{z.id, "dev_zone", newArea, "", z.name})
	}
	streets := slices.Clone(d.streets)
	slices.SortFunc(streets, func(a, b street) int { return cmp.Compare(a.Code, b.Code) })
	for _, s := range streets {
		rows = append(rows, []string{"st-" + s.Code, "street", devZones()[s.devZone].id, s.Code, s.Name})
	}
	for _, c := range d.communities {
		rows = append(rows, []string{"cm-" + c.Code, "community", "st-" + c.Parent, c.Code, c.Name})
	}
	return writeCSV("gov_units.csv", []string{"unit_id", "unit_type", "parent_id", "area_code", "name"}, rows)
}

func writeCSV(name string, header []string, rows [][]string) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(header); err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, err)
	}
	if err := w.WriteAll(rows); err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, err)
	}
	return buf.Bytes(), nil
}
