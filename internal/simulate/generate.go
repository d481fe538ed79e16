package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/schemas"
)

// --- ledgers ---------------------------------------------------------------

// newEntity creates a market entity of grid gi.
func (s *Simulator) newEntity(gi int, ts int64) {
	rng := s.rng
	g := s.district.grids[gi]
	st := s.district.streets[g.street]
	now := time.UnixMicro(ts)
	reason := s.invalidReason(kMarketEntity)

	type etype struct {
		digit byte
		name  string
	}
	coop := 3.0
	if st.township {
		coop = 15
	}
	et := weighted(rng, []choice[etype]{{etype{'2', "individual"}, 60}, {etype{'1', "enterprise"}, 37}, {etype{'3', "cooperative"}, coop}})
	// Days since establishment, skewed towards recent years.
	age := int(math.Pow(rng.Float64(), 2) * 25 * 365)
	est := now.In(s.cal.zone).AddDate(0, 0, -age)
	regArea := "220101" // city-level registration for the development zone
	if st.county != "220173" {
		regArea = st.county
	}
	var usci string
	if reason == "" {
		for {
			usci = makeUSCI(rng, et.digit, regArea, est.Year() < 2016)
			if !s.usedUSCI[usci] {
				break
			}
		}
		s.usedUSCI[usci] = true
	} else {
		// Invalid entities take codes from department Y (其他), which the
		// valid ones (department 9) never use.
		s.xseq[kMarketEntity]++
		body := fmt.Sprintf("Y1%s%09d", regArea, s.xseq[kMarketEntity])
		usci = body + string(schemas.USCICheckChar(body))
		if reason == InvalidUSCIChecksum {
			usci = wrongCheck(rng, usci)
		}
	}
	stem := oneOf(rng, firmStems())
	var name string
	var industry *string
	switch et.name {
	case "enterprise":
		name = fmt.Sprintf("长春%s%s有限公司", stem, oneOf(rng, []string{"科技", "生物", "光电", "汽车零部件", "医药", "信息技术", "商贸", "建筑工程", "物流", "餐饮管理"}))
		industry = ptr(oneOf(rng, []string{"I65", "M73", "C36", "C27", "F51", "E48", "L72", "G54", "C39", "M75"}))
	case "cooperative":
		name = fmt.Sprintf("长春市%s%s%s农民专业合作社", st.Name, stem, oneOf(rng, []string{"种植", "养殖", "农机"}))
		industry = ptr(oneOf(rng, []string{"A01", "A03", "A05"}))
	default:
		// 个体工商户 names start with the registering district's name.
		prefix := map[string]string{"220103": "长春市宽城区", "220113": "长春市九台区"}[st.county]
		if prefix == "" {
			prefix = "长春高新技术产业开发区"
		}
		k := oneOf(rng, storeKinds())
		name = prefix + fmt.Sprintf(oneOf(rng, k.names), stem)
		industry = ptr(k.industry)
	}
	if rng.IntN(10) == 0 {
		industry = nil
	}
	e := &marketEntity{
		USCI:          usci,
		Name:          name,
		EntityType:    et.name,
		RegStatus:     weighted(rng, []choice[string]{{"active", 90}, {"cancelled", 4}, {"revoked", 2}, {"moved_out", 4}}),
		EstablishedOn: ptr(est.Format(time.DateOnly)),
		IndustryCode:  industry,
		GridCode:      g.Code,
		AbnormalList:  weighted(rng, []choice[*bool]{{ptr(false), 90}, {ptr(true), 4}, {nil, 6}}),
		UpdatedAt:     micros(ts),
	}
	if e.RegStatus != "active" { // some time after it was established
		on := est.Add(time.Duration(rng.Float64() * float64(time.UnixMicro(ts).Sub(est))))
		e.StatusOn = ptr(on.In(s.cal.zone).Format(time.DateOnly))
	}
	s.emit(kMarketEntity, usci, e, ts, reason)
	if reason == "" {
		s.entityGrid = append(s.entityGrid, gi)
		s.entByGrid[gi] = append(s.entByGrid[gi], len(s.entities))
		s.entities = append(s.entities, e)
	}
}

// newHousehold creates the household living in room, the i-th of grid gi.
func (s *Simulator) newHousehold(gi, i int, room string, ts int64) {
	rng := s.rng
	g := s.district.grids[gi]
	now := time.UnixMicro(ts)
	reason := s.invalidReason(kHousehold)
	id := fmt.Sprintf("H%s%04d", g.Code, i+1)
	if reason != "" {
		id = s.nextInvalidID(kHousehold)
	}
	rt := weighted(rng, []choice[string]{{"registered", 68}, {"migrant", 24}, {"separated", 7}, {"foreign", 1}})
	rented := 26.0
	if rt == "migrant" {
		rented = 70
	}
	occ := weighted(rng, []choice[*string]{{ptr("owner"), 62}, {ptr("rented"), rented}, {ptr("vacant"), 8}, {ptr("group_rented"), 2}, {nil, 2}})
	h := &household{
		HouseholdID:    id,
		GridCode:       g.Code,
		RoomCode:       room,
		ResidentType:   rt,
		Occupancy:      occ,
		MembersN:       s.membersFor(occ),
		NeedsAttention: weighted(rng, []choice[*bool]{{ptr(false), 87}, {ptr(true), 3}, {nil, 10}}),
		Tags:           s.someOf(householdTags(), 2, 0.5),
		UpdatedAt:      micros(ts),
	}
	vacant := occ != nil && *occ == "vacant"
	pID, pNoPhone := 0.92, 0.1
	if vacant {
		pID, pNoPhone = 0.3, 0.5
	}
	if rt != "foreign" && rng.Float64() < pID {
		codes := localAddressCodes()
		if rt == "migrant" {
			codes = migrantAddressCodes()
		}
		h.HeadIDNumber = ptr(residentID(rng, oneOf(rng, codes), birthDate(rng, now, 22, 88), rng.IntN(100) < 55))
	}
	h.HeadPhone = maybePhone(rng, pNoPhone)
	if rng.IntN(100) < 92 {
		h.LastVerifiedAt = ptr(seconds(ts - int64(rng.IntN(400*86400))*1e6))
	}
	s.emit(kHousehold, id, h, ts, reason)
	if reason == "" {
		s.hhByGrid[gi] = append(s.hhByGrid[gi], len(s.households))
		s.households = append(s.households, h)
	}
}

// membersFor returns a household size fitting the occupancy.
func (s *Simulator) membersFor(occ *string) int {
	switch {
	case occ != nil && *occ == "vacant":
		return 0
	case occ != nil && *occ == "group_rented":
		return 4 + s.rng.IntN(6)
	}
	return weighted(s.rng, []choice[int]{{1, 18}, {2, 32}, {3, 28}, {4, 14}, {5, 8}})
}

// someOf returns up to most distinct elements of from, sorted, or nil with
// probability pNil.
func (s *Simulator) someOf(from []string, most int, pNil float64) []string {
	if s.rng.Float64() < pNil {
		return nil
	}
	n := s.rng.IntN(most + 1)
	out := []string{}
	for _, i := range s.rng.Perm(len(from))[:n] {
		out = append(out, from[i])
	}
	slices.Sort(out)
	return out
}

// newStore creates the i-th "十小" store of grid gi. About 30% carry the
// credit code of a market entity of the ledger, 15% none (无照), the rest a
// code registered elsewhere.
func (s *Simulator) newStore(gi, i int, ts int64) {
	rng := s.rng
	g := s.district.grids[gi]
	reason := s.invalidReason(kStore)
	id := fmt.Sprintf("S%s%03d", g.Code, i+1)
	if reason != "" {
		id = s.nextInvalidID(kStore)
	}
	var k storeKind
	{
		kinds := storeKinds()
		cs := make([]choice[int], len(kinds))
		for j, sk := range kinds {
			cs[j] = choice[int]{j, sk.weight}
		}
		k = kinds[weighted(rng, cs)]
	}
	stem := oneOf(rng, firmStems())
	if k.category == "catering" {
		stem = oneOf(rng, surnames())
	}
	var usci *string
	switch x := rng.Float64(); {
	case x < 0.30 && len(s.entities) > 0:
		local := s.entByGrid[gi]
		if len(local) > 0 && rng.IntN(4) > 0 {
			usci = ptr(s.entities[oneOf(rng, local)].USCI)
		} else {
			usci = ptr(s.entities[rng.IntN(len(s.entities))].USCI)
		}
	case x < 0.45:
		usci = nil
	default:
		for {
			c := makeUSCI(rng, '2', "220101", rng.IntN(4) == 0)
			if !s.usedUSCI[c] {
				usci = ptr(c)
				break
			}
		}
	}
	st := &store{
		StoreID:       id,
		USCI:          usci,
		Signboard:     fmt.Sprintf(oneOf(rng, k.names), stem),
		StoreCategory: k.category,
		GridCode:      g.Code,
		Features:      s.someOf(storeFeatures(), 3, 0.3),
		ContactPhone:  maybePhone(rng, 0.12),
		UpdatedAt:     micros(ts),
	}
	if rng.IntN(20) > 0 {
		st.AreaM2 = ptr(math.Round((10+rng.Float64()*(k.maxArea-10))*10) / 10)
	}
	if rng.IntN(20) > 0 {
		st.StaffN = ptr(1 + rng.IntN(k.maxStaff))
	}
	if rng.IntN(100) < 85 {
		st.LastVisitAt = ptr(seconds(ts - int64(rng.IntN(180*86400))*1e6))
	}
	if rng.IntN(100) < 75 {
		st.LastFireCheckOn = ptr(time.UnixMicro(ts).In(s.cal.zone).AddDate(0, 0, -rng.IntN(365)).Format(time.DateOnly))
	}
	s.emit(kStore, id, st, ts, reason)
	if reason == "" {
		s.storeGrid = append(s.storeGrid, gi)
		s.stores = append(s.stores, st)
	}
}

// updateHousehold writes a new version of household i after a verification
// (at visitedAt, or now if 0).
func (s *Simulator) updateHousehold(i int, visitedAt int64) {
	rng := s.rng
	h := s.households[i]
	ts := s.stampFor(kHousehold, h.HouseholdID)
	if visitedAt == 0 || visitedAt > ts {
		visitedAt = ts
	}
	switch rng.IntN(5) {
	case 0:
		h.HeadPhone = ptr(mobile(rng))
	case 1:
		occ := weighted(rng, []choice[*string]{{ptr("owner"), 50}, {ptr("rented"), 35}, {ptr("vacant"), 12}, {ptr("group_rented"), 3}})
		h.Occupancy = occ
		h.MembersN = s.membersFor(occ)
	case 2:
		if h.MembersN < 50 && (h.Occupancy == nil || *h.Occupancy != "vacant") {
			h.MembersN = max(1, h.MembersN+oneOf(rng, []int{-1, 1, 1}))
		}
	case 3:
		h.Tags = s.someOf(householdTags(), 3, 0.2)
	}
	h.LastVerifiedAt = ptr(seconds(visitedAt))
	h.UpdatedAt = micros(ts)
	s.emit(kHousehold, h.HouseholdID, h, ts, "")
}

// updateStore writes a new version of store i after a visit (at visitedAt,
// or now if 0).
func (s *Simulator) updateStore(i int, visitedAt int64) {
	rng := s.rng
	st := s.stores[i]
	ts := s.stampFor(kStore, st.StoreID)
	if visitedAt == 0 || visitedAt > ts {
		visitedAt = ts
	}
	switch rng.IntN(4) {
	case 0:
		st.Features = s.someOf(storeFeatures(), 3, 0.2)
	case 1:
		st.StaffN = ptr(1 + rng.IntN(20))
	case 2:
		st.ContactPhone = ptr(mobile(rng))
	default:
		st.LastFireCheckOn = ptr(time.UnixMicro(ts).In(s.cal.zone).Format(time.DateOnly))
	}
	st.LastVisitAt = ptr(seconds(visitedAt))
	st.UpdatedAt = micros(ts)
	s.emit(kStore, st.StoreID, st, ts, "")
}

// entityGone reports whether the market entity of store st's credit code
// is no longer active here.
func (s *Simulator) entityGone(st *store) bool {
	if st.USCI == nil {
		return false
	}
	if len(s.entityIndex) != len(s.entities) {
		s.entityIndex = make(map[string]int, len(s.entities))
		for i, e := range s.entities {
			s.entityIndex[e.USCI] = i
		}
	}
	i, ok := s.entityIndex[*st.USCI]
	return ok && s.entities[i].RegStatus != "active"
}

// updateEntity writes a new version of market entity i: the result of an
// inspection ("unreachable" lists it as abnormal) or a registration change.
func (s *Simulator) updateEntity(i int, result string) {
	rng := s.rng
	e := s.entities[i]
	ts := s.stampFor(kMarketEntity, e.USCI)
	switch {
	case result == "unreachable":
		e.AbnormalList = ptr(true)
	case e.RegStatus == "active" && rng.IntN(3) == 0:
		e.RegStatus = weighted(rng, []choice[string]{{"cancelled", 60}, {"moved_out", 30}, {"revoked", 10}})
		e.StatusOn = ptr(time.UnixMicro(ts).In(s.cal.zone).Format(time.DateOnly))
	default:
		e.AbnormalList = ptr(e.AbnormalList == nil || !*e.AbnormalList)
	}
	e.UpdatedAt = micros(ts)
	s.emit(kMarketEntity, e.USCI, e, ts, "")
}

// --- stream records --------------------------------------------------------

// jitter returns a point near the centre of grid g, or nil coordinates with
// probability pNil.
func jitter(rng *rand.Rand, g *grid, pNil float64) (*float64, *float64) {
	if rng.Float64() < pNil {
		return nil, nil
	}
	return ptr(round6(g.lon + (rng.Float64()-0.5)*0.004)), ptr(round6(g.lat + (rng.Float64()-0.5)*0.003))
}

func (s *Simulator) randomGrid() (int, *grid) {
	gi := s.rng.IntN(len(s.district.grids))
	return gi, s.district.grids[gi]
}

// newGridEvent reports a new grid event and queues its dispatch.
func (s *Simulator) newGridEvent() {
	rng := s.rng
	ts := s.stamp(0)
	reason := s.invalidReason(kGridEvent)
	id := s.idFor(kGridEvent, ts, reason)
	_, g := s.randomGrid()
	for try := 0; try < 20 && s.silenced(g); try++ { // a silent community reports nothing
		_, g = s.randomGrid()
	}
	ev, cat := reportedEvent(rng, s.cal, g, id, ts)
	s.emit(kGridEvent, id, ev, ts, reason)
	if reason != "" {
		return
	}
	if len(s.recent) < 64 {
		s.recent = append(s.recent, id)
	} else {
		s.recent[s.seq[kGridEvent]%64] = id
	}
	s.startEvent(&pending{ev: ev, g: g, cat: cat}, ts)
	if cat.major == emergencyMajor {
		s.turnout(ev, g, cat, ts)
	}
}

// reportedEvent is a new grid event as its reporter files it: category,
// source, role, urgency, position, deadline and description drawn from rng.
func reportedEvent(rng *rand.Rand, cal *Calendar, g *grid, id string, ts int64) (*gridEvent, eventCategory) {
	now := time.UnixMicro(ts)
	cat := weighted(rng, eventChoices(now))
	src := weighted(rng, eventSources)
	var role *string
	switch src {
	case "gridder_patrol":
		role = ptr(weighted(rng, patrolRoles))
	case "resident":
		role = ptr("resident")
	case "property":
		role = ptr("property_staff")
	case "police_110_transfer":
		role = ptr("police")
	}
	urgency := "urgent"
	if !cat.urgent {
		urgency = weighted(rng, []choice[string]{{"urgent", 4}, {"important", 24}, {"normal", 72}})
	}
	lon, lat := jitter(rng, g, 0.15)
	var building *string
	if len(g.buildings) > 0 && rng.IntN(10) < 6 { // at a building, not in the street
		building = ptr(g.buildings[rng.IntN(len(g.buildings))].code)
	}
	ev := &gridEvent{
		BuildingCode:  building,
		EventID:       id,
		Source:        src,
		CategoryMajor: cat.major,
		CategoryMinor: ptr(cat.minor),
		Urgency:       urgency,
		Lon:           lon,
		Lat:           lat,
		GridCode:      g.Code,
		ReporterRole:  role,
		Status:        "reported",
		ReportedAt:    micros(ts),
		DeadlineAt:    ptr(micros(cal.AddWorkingHours(now, sla("grid", cat.major, urgency)).UnixMicro())),
		Deferred:      ptr(false),
		ReworkCount:   ptr(0),
		UpdatedAt:     micros(ts),
	}
	if rng.IntN(10) > 0 {
		b := oneOf(rng, g.buildings)
		n, _ := strconv.Atoi(b.code[12:]) // the building sequence, five digits
		ev.Description = ptr(fmt.Sprintf("%s %d号楼附近%s，请尽快处置", g.Name, n, cat.name))
	}
	return ev, cat
}

// eventChoices returns the event categories as weighted choices at t: by
// month (seasonalFactor) and in the heating season or out of it.
func eventChoices(t time.Time) []choice[eventCategory] {
	h := 0
	if heatingSeason(t) {
		h = 1
	}
	return categoryChoices()[t.In(calendar.Zone).Month()-1][h]
}

var categoryChoices = sync.OnceValue(func() (cs [12][2][]choice[eventCategory]) {
	for m := range cs {
		for _, c := range eventCategories() {
			w := c.weight * seasonalFactor(c, time.Month(m+1))
			cs[m][1] = append(cs[m][1], choice[eventCategory]{c, w})
			if !c.heating {
				cs[m][0] = append(cs[m][0], choice[eventCategory]{c, w})
			}
		}
	}
	return cs
})

// seasonalFactor is how much more (or less) often than on average a
// category is reported in month m in Changchun: heating complaints at the
// start of the heating season and in its cold snaps; waterlogging and floods
// in the July–August rains, nothing of the sort when the ground is frozen;
// grass and forest fires in the dry spring (the spring fire-prevention
// period) and again in autumn; street vendors and noise in the warm months.
func seasonalFactor(c eventCategory, m time.Month) float64 {
	pick := func(f map[time.Month]float64) float64 {
		if x, ok := f[m]; ok {
			return x
		}
		return 1
	}
	switch c.major + c.minor {
	case "0601": // 供暖不热
		return pick(map[time.Month]float64{10: 2, 11: 2, 12: 1.2, 1: 1.3, 2: 1, 3: 0.6, 4: 0.4})
	case "0103": // 路面积水
		return pick(map[time.Month]float64{6: 2, 7: 4, 8: 4, 9: 1.5, 11: 0.2, 12: 0.1, 1: 0.1, 2: 0.1, 3: 0.3})
	case "0801": // 火情
		return pick(map[time.Month]float64{3: 2, 4: 3, 5: 2, 6: 0.6, 7: 0.5, 8: 0.5, 10: 1.5, 11: 1.5})
	case "0802": // 自然灾害
		return pick(map[time.Month]float64{7: 4, 8: 4, 6: 1.5, 12: 1.5, 1: 1.5, 2: 1.2, 4: 0.5, 5: 0.5, 10: 0.5})
	case "0201", "0203": // 占道经营, 流动摊贩
		return pick(map[time.Month]float64{5: 1.3, 6: 1.5, 7: 1.5, 8: 1.5, 9: 1.3, 12: 0.5, 1: 0.5, 2: 0.6})
	case "0702": // 噪音扰民
		return pick(map[time.Month]float64{6: 1.5, 7: 1.7, 8: 1.6, 12: 0.7, 1: 0.7, 2: 0.8})
	}
	return 1
}

// policeNight is the night-time weight of police incidents in month m:
// summer nights (barbecue stalls, drinking, disputes) bring more calls, the
// winter's fewer.
func policeNight(m time.Month) float64 {
	switch m {
	case 6, 7, 8:
		return 1.5
	case 12, 1, 2:
		return 0.8
	}
	return 1
}

var (
	eventSources = []choice[string]{{"gridder_patrol", 45}, {"resident", 15}, {"hotline_12345", 15}, {"property", 12}, {"police_110_transfer", 5}, {"video", 5}, {"superior", 3}}
	patrolRoles  = []choice[string]{{"gridder", 80}, {"three_heads", 12}, {"volunteer", 8}}
)

// newDoorVisit records a door-knocking visit; a visit that met a household
// or store sometimes updates its ledger entry too.
func (s *Simulator) newDoorVisit() {
	rng := s.rng
	ts := s.stamp(0)
	reason := s.invalidReason(kDoorVisit)
	id := s.idFor(kDoorVisit, ts, reason)
	// The ledger records visits to the minute (敲门行动台账 has no seconds).
	visited := ts - int64(rng.IntN(1800))*1e6
	visited -= visited % 60e6
	lt := time.UnixMicro(ts).In(s.cal.zone)
	half := "H1"
	if lt.Month() > 6 {
		half = "H2"
	}
	v := &doorVisit{
		VisitID:     id,
		CampaignID:  fmt.Sprintf("%d%s", lt.Year(), half),
		VisitorRole: weighted(rng, []choice[string]{{"community_worker", 40}, {"three_heads", 20}, {"police", 10}, {"property", 12}, {"sunk_cadre", 10}, {"volunteer", 8}}),
		VisitedAt:   seconds(visited),
		UpdatedAt:   micros(ts),
	}
	target := weighted(rng, []choice[string]{{"household", 70}, {"store", 20}, {"building", 7}, {"key_person", 3}})
	if target == "household" && len(s.households) == 0 || target == "store" && len(s.stores) == 0 {
		target = "building"
	}
	var g *grid
	hi, si := -1, -1
	// The campaign's households and stores are called on grid by grid
	// at each grid's pace; a grid ahead of it visits a building instead.
	var rd *round
	first := false
	switch target {
	case "household":
		gi := s.gridIndex[s.households[s.rng.IntN(len(s.households))].GridCode]
		if s.silenced(s.district.grids[gi]) {
			return // a silent community logs no visit
		}
		g, rd = s.district.grids[gi], &s.campaignAt(ts).households[gi]
		if hi, first = rd.call(s.campaign, ts); hi < 0 {
			target = "building"
		}
	case "store":
		gi := s.storeGrid[s.rng.IntN(len(s.stores))]
		if s.silenced(s.district.grids[gi]) {
			return
		}
		g, rd = s.district.grids[gi], &s.campaignAt(ts).stores[gi]
		if si, first = rd.call(s.campaign, ts); si < 0 {
			target = "building"
		}
	}
	switch target {
	case "household":
		h := s.households[hi]
		v.TargetID = h.HouseholdID
		v.Outcome = weighted(rng, []choice[string]{{"met", 70}, {"not_home", 18}, {"refused", 3}, {"vacant", 6}, {"moved", 3}})
		if v.Outcome == "not_home" && (first || rng.IntN(2) == 0) { // tried again, at most twice more
			rd.retry = append(rd.retry, hi)
		}
	case "store":
		v.TargetID = s.stores[si].StoreID
		v.Outcome = weighted(rng, []choice[string]{{"met", 80}, {"not_home", 14}, {"refused", 3}, {"moved", 3}})
		if s.entityGone(s.stores[si]) {
			// Its company was cancelled, revoked or moved away, and the
			// shop with it. One still trading is a plant
			// (PlantCancelledVisited).
			v.Outcome = "moved"
		}
		if v.Outcome == "not_home" && (first || rng.IntN(2) == 0) {
			rd.retry = append(rd.retry, si)
		}
	case "building":
		if g == nil {
			_, g = s.randomGrid()
		}
		v.TargetID = oneOf(rng, g.buildings).code
		v.Outcome = weighted(rng, []choice[string]{{"met", 90}, {"not_home", 10}})
	default:
		_, g = s.randomGrid()
		v.TargetID = fmt.Sprintf("KP%010X", rng.Uint64()>>24)
		v.Outcome = weighted(rng, []choice[string]{{"met", 85}, {"not_home", 15}})
	}
	if s.silenced(g) {
		return
	}
	v.TargetType = target
	v.GridCode = g.Code
	v.VisitorID = ptr(visitorOf(rng, g))
	v.Lon, v.Lat = jitter(s.rng, g, 0.1)
	if v.Outcome == "met" && target != "key_person" {
		fields := []string{"head_phone", "members_n", "occupancy", "tags", "resident_type"}
		if target != "household" {
			fields = []string{"contact_phone", "features", "staff_n", "fire_check"}
		}
		v.FieldsUpdated = s.someOf(fields, 3, 0.3)
	}
	s.emit(kDoorVisit, id, v, ts, reason)
	if reason != "" || v.Outcome != "met" || rng.IntN(100) >= 30 {
		return
	}
	switch {
	case hi >= 0:
		s.updateHousehold(hi, visited)
	case si >= 0:
		s.updateStore(si, visited)
	}
}

// newPoliceIncident receives a 110 call and queues its handling.
func (s *Simulator) newPoliceIncident() {
	rng := s.rng
	ts := s.stamp(0)
	reason := s.invalidReason(kPoliceIncident)
	id := s.idFor(kPoliceIncident, ts, reason)
	_, g := s.randomGrid()
	if sg, p := s.spikeGrid(); sg != nil {
		g = sg
		if reason == "" {
			p.Records = append(p.Records, id)
		}
	}
	st := s.district.streets[g.street]
	callType := weighted(rng, []choice[string]{{"report", 45}, {"assistance", 25}, {"complaint", 2}, {"invalid", 20}, {"consult", 8}})
	var l1, l2 string
	switch callType {
	case "report":
		var cs []choice[policeCategory]
		for _, c := range policeCategories() {
			if c.l1 != "assistance" {
				cs = append(cs, choice[policeCategory]{c, c.weight})
			}
		}
		c := weighted(rng, cs)
		l1, l2 = c.l1, oneOf(rng, c.l2)
	case "assistance":
		l1, l2 = "assistance", oneOf(rng, policeCategories()[4].l2)
	case "complaint":
		l1, l2 = "other", "投诉民警"
	case "invalid":
		l1, l2 = "other", oneOf(rng, []string{"误拨", "骚扰电话", "无声电话"})
	default:
		l1, l2 = "other", "咨询"
	}
	pi := &policeIncident{
		IncidentID:  id,
		ReceivedAt:  micros(ts),
		CallType:    callType,
		CategoryL1:  l1,
		CategoryL2:  ptr(l2),
		IsValid:     callType != "invalid",
		StationCode: fmt.Sprintf("PS%s%d", st.Code, 1+int(g.Code[11]-'0')%2),
		GridCode:    g.Code,
		UpdatedAt:   micros(ts),
	}
	s.emit(kPoliceIncident, id, pi, ts, reason)
	if reason != "" {
		return
	}
	s.startIncident(&pending{pi: pi, g: g}, ts)
}

// newWorkOrder opens a property work order and queues its assignment.
func (s *Simulator) newWorkOrder() {
	rng := s.rng
	ts := s.stamp(0)
	now := time.UnixMicro(ts)
	reason := s.invalidReason(kWorkOrder)
	id := s.idFor(kWorkOrder, ts, reason)
	gi, g := s.randomGrid()
	cats := []choice[string]{{"water_elec", 25}, {"elevator", 12}, {"public_facility", 15}, {"environment", 12}, {"security", 5}, {"parking", 10}, {"neighbour", 8}, {"fee", 6}}
	if heatingSeason(now) {
		cats = append(cats, choice[string]{"heating", 20})
	}
	wo := &workOrder{
		OrderID:       id,
		Kind:          weighted(rng, []choice[string]{{"repair", 70}, {"complaint", 15}, {"consult", 10}, {"suggestion", 5}}),
		Category:      weighted(rng, cats),
		ObjectType:    weighted(rng, []choice[string]{{"room", 55}, {"entrance", 10}, {"building", 20}, {"compound", 15}}),
		GridCode:      g.Code,
		Status:        "created",
		CreatedAt:     micros(ts),
		Urgent:        ptr(rng.IntN(10) == 0),
		ReporterPhone: maybePhone(rng, 0.1),
		UpdatedAt:     micros(ts),
	}
	b := oneOf(rng, g.buildings)
	switch wo.ObjectType {
	case "room":
		if hh := s.hhByGrid[gi]; len(hh) > 0 {
			h := s.households[oneOf(rng, hh)]
			wo.ObjectID = ptr(h.RoomCode)
			// Most repairs of a room are reported by its household's head,
			// from the number the grid ledger holds: the same person in
			// two platforms, joinable by pseudonym.
			if h.HeadPhone != nil && rng.IntN(100) < 60 {
				wo.ReporterPhone = ptr(*h.HeadPhone)
			}
		} else {
			wo.ObjectID = ptr(fmt.Sprintf("%s-01-%02d01", b.code, 1+rng.IntN(b.floors)))
		}
	case "entrance":
		wo.ObjectID = ptr(fmt.Sprintf("%s-%02d", b.code, 1+rng.IntN(b.units)))
	case "building":
		wo.ObjectID = ptr(b.code)
	default:
		wo.ObjectID = ptr(fmt.Sprintf("XQ%s%02d", g.Parent, 1+int(g.Code[14]-'0')%3))
	}
	s.emit(kWorkOrder, id, wo, ts, reason)
	if reason == "" {
		s.startOrder(&pending{wo: wo, g: g}, ts)
	}
}

// newInspection records a 双随机 inspection of a market entity of the
// ledger; an entity found unreachable is sometimes put on the abnormal list.
func (s *Simulator) newInspection() {
	if len(s.entities) == 0 {
		s.newGridEvent()
		return
	}
	rng := s.rng
	ts := s.stamp(0)
	reason := s.invalidReason(kMarketInspection)
	id := s.idFor(kMarketInspection, ts, reason)
	ei := rng.IntN(len(s.entities))
	e := s.entities[ei]
	g := s.district.grids[s.entityGrid[ei]]
	lt := time.UnixMicro(ts).In(s.cal.zone)
	zone := []string{"高新", "北湖", "长德", "空港"}[s.district.streets[g.street].devZone]
	in := &marketInspection{
		InspectionID: id,
		TaskID:       fmt.Sprintf("SSJ%dQ%d-%02d", lt.Year(), 1+(int(lt.Month())-1)/3, 1+rng.IntN(6)),
		USCI:         e.USCI,
		InspectedAt:  seconds(ts - int64(rng.IntN(4*3600))*1e6),
		Result: weighted(rng, []choice[string]{{"no_problem", 75}, {"info_not_published", 8}, {"unreachable", 7},
			{"rectification_ordered", 6}, {"activity_not_found", 2}, {"falsified", 1}, {"non_cooperation", 1}}),
		GridCode:  g.Code,
		UpdatedAt: micros(ts),
	}
	if rng.IntN(100) < 92 {
		in.Dept = ptr(zone + "市场监督管理分局")
	}
	s.emit(kMarketInspection, id, in, ts, reason)
	if reason == "" && in.Result == "unreachable" && rng.IntN(2) == 0 {
		s.updateEntity(ei, in.Result)
	}
}

// newTeamRecord records a work-record card entry of a team member.
func (s *Simulator) newTeamRecord() {
	rng := s.rng
	ts := s.stamp(0)
	reason := s.invalidReason(kTeamRecord)
	id := s.idFor(kTeamRecord, ts, reason)
	m := s.picks[weighted(rng, cardShares)].pick(rng)
	if m == nil {
		s.newGridEvent()
		return
	}
	g := s.district.grids[oneOf(rng, m.grids)]
	area := weighted(rng, []choice[string]{{g.Code, 45}, {g.Parent, 40}, {s.district.streets[g.street].Code, 15}})
	var tasks []choice[string]
	switch m.teamType {
	case "sunk_cadre":
		tasks = []choice[string]{{"door_knock", 35}, {"patrol", 20}, {"service", 25}, {"event_handling", 20}}
	case "volunteer":
		tasks = []choice[string]{{"service", 55}, {"patrol", 25}, {"door_knock", 10}, {"event_handling", 10}}
	default: // emergency duty comes with an emergency (turnout)
		tasks = []choice[string]{{"training", 50}, {"patrol", 35}, {"service", 15}}
	}
	day := time.UnixMicro(ts).In(s.cal.zone)
	if rng.IntN(5) == 0 {
		day = day.AddDate(0, 0, -1)
	}
	tr := &teamRecord{
		RecordID:   id,
		TeamType:   m.teamType,
		TeamID:     m.teamID,
		AreaCode:   area,
		WorkDate:   day.Format(time.DateOnly),
		Hours:      float64(1+rng.IntN(16)) / 2,
		TaskType:   weighted(rng, tasks),
		RecordedAt: micros(ts),
		UpdatedAt:  micros(ts),
	}
	if rng.IntN(10) > 0 {
		tr.MemberIDNumber = ptr(m.idNumber)
	}
	if tr.TaskType == "event_handling" && len(s.recent) > 0 {
		tr.EventID = ptr(oneOf(rng, s.recent))
	}
	s.emit(kTeamRecord, id, tr, ts, reason)
}
