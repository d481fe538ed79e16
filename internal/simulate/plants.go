package simulate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// The kinds of planted anomaly: the record-level and area-level patterns of
// DOMAIN.md §9 that the detectors must find.
const (
	// PlantIncidentSpike: a community's police incidents several times
	// their usual count for some days. Subject: the community's code.
	PlantIncidentSpike = "incident_spike"
	// PlantOnTimeDrop: a street's events handled late for a month, so its
	// on-time closure rate drops. Subject: the street's code; Magnitude:
	// the share of its events made late.
	PlantOnTimeDrop = "ontime_drop"
	// PlantSilentCommunity: a community reports no grid event and logs no
	// visit for some days. Subject: the community's code.
	PlantSilentCommunity = "silent_community"
	// PlantInstantClosures: one handler closes their events minutes after
	// dispatch for a fortnight. Subject: the handler's staff number.
	PlantInstantClosures = "instant_closures"
	// PlantRepeatBuilding: the same problem reported again and again at one
	// building after each closure. Subject: the building's code;
	// Magnitude: how many events.
	PlantRepeatBuilding = "repeat_building"
	// PlantVisitorOverload: a visitor logs more than 12 households in an
	// hour. Subject: the visitor's staff number; Magnitude: the visits in
	// the hour.
	PlantVisitorOverload = "visitor_overload"
	// PlantCancelledVisited: a store whose market entity is cancelled (注销)
	// is still visited as operating. Subject: the store's id.
	PlantCancelledVisited = "cancelled_visited"
	// PlantShellCluster: market entities registered at one address, most
	// of whose inspections find them unreachable (无法联系). Subject: the
	// address; Magnitude: the number of entities.
	PlantShellCluster = "shell_cluster"
	// PlantLaggingPlace: a place persistently slower than its peers for
	// the whole history: not a change in time but a standing difference,
	// which only a comparison between places finds. The street the
	// district draws as its slowest (lifecycle.go's places.lagging), and
	// any community whose own handling factor is drawn at least 2 of its
	// spread above its sibling communities' mean (the ordinary
	// differences between communities stay out; see ClearlyLagging). Subject: the place's
	// code; Magnitude: its log-factor on handling durations above its
	// peers'.
	PlantLaggingPlace = "lagging_place"
)

// PlantKinds lists every kind of planted anomaly.
func PlantKinds() []string {
	return []string{PlantIncidentSpike, PlantOnTimeDrop, PlantSilentCommunity, PlantInstantClosures,
		PlantRepeatBuilding, PlantVisitorOverload, PlantCancelledVisited, PlantShellCluster, PlantLaggingPlace}
}

// Plant is one planted anomaly, as the ledger of plants records it. It
// never travels through the pipeline: tests and benchmarks read it from
// the simulator to judge what the pipeline's detectors found.
type Plant struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"` // what it concerns (see the kinds)
	// Area is the code of the area it is in (a street or community).
	Area string    `json:"area"`
	From time.Time `json:"from"` // when it is in force
	To   time.Time `json:"to"`
	// Magnitude is how strong it is (see the kinds): a factor on a count,
	// a share, a number of records.
	Magnitude float64 `json:"magnitude"`
	// Records are the ids of the records it made or changed (none for a
	// silence).
	Records []string `json:"records"`
}

// plants is the simulator's planting state: each kind's next start, the
// plants in force and the ledger.
type plants struct {
	rng    *rand.Rand
	next   map[string]int64 // kind → Unix µs of its next start
	active []*Plant
	ledger []*Plant
}

// plantDays is the mean time between two plants of one kind at
// Config.Anomalies 1.
const plantDays = 30

// schedulePlants draws each kind's first start after from.
func (s *Simulator) schedulePlants(from int64) {
	if s.cfg.Anomalies <= 0 || s.plants.next != nil {
		return
	}
	s.plants.rng = rand.New(rand.NewPCG(uint64(s.cfg.Seed), 0x706c616e74732121))
	s.plants.next = map[string]int64{}
	// The first of each kind within the first mean gap, so that a history
	// that long holds every kind; exponential gaps after that.
	mean := plantDays * 24 * 3600e6 / s.cfg.Anomalies
	for _, k := range PlantKinds() {
		if k == PlantLaggingPlace {
			continue
		}
		s.plants.next[k] = from + int64(s.plants.rng.Float64()*mean)
	}
	// The lagging places are in force from the first day: the ledger
	// records them so that a comparison between places that finds them is
	// judged right.
	for _, lp := range s.LaggingPlaces(time.UnixMicro(from)) {
		s.plants.ledger = append(s.plants.ledger, &lp)
	}
}

// A community's handling factor must be laggingCommunitySpread of the
// communities' spread (newPlaces' 0.15) above its siblings' mean for it to
// be a lagging place in the ledger, and ClearlyLaggingSpread for it to be
// clearly one (ClearlyLagging). Between the two a comparison between places
// may or may not flag it: a flag there is right, a miss is no miss.
const (
	laggingCommunitySpread = 2.0
	ClearlyLaggingSpread   = 2.5
)

// ClearlyLagging reports whether p, a PlantLaggingPlace, is one a
// comparison between places must find: the lagging street, or a community
// drawn at least ClearlyLaggingSpread of the communities' spread slower
// than its siblings.
func ClearlyLagging(p Plant) bool {
	return p.Kind == PlantLaggingPlace && (len(p.Subject) == 9 || p.Magnitude >= ClearlyLaggingSpread*communitySpeedSpread)
}

// LaggingPlaces returns the standing plants of PlantLaggingPlace, in force
// from from, as the ledger of a history from then holds them: they follow
// from the seed alone.
func (s *Simulator) LaggingPlaces(from time.Time) []Plant {
	var out []Plant
	for _, p := range s.laggingPlaces() {
		p.From, p.To = from.UTC(), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		out = append(out, *p)
	}
	return out
}

// laggingPlaces returns the standing plants of PlantLaggingPlace.
func (s *Simulator) laggingPlaces() []*Plant {
	d, pl := s.district, s.places
	var out []*Plant
	if len(d.streets) >= 2 {
		var others float64
		for i := range d.streets {
			if i != pl.lagging {
				others += pl.streetSpeed[i]
			}
		}
		st := d.streets[pl.lagging]
		out = append(out, &Plant{Kind: PlantLaggingPlace, Subject: st.Code, Area: st.Code,
			Magnitude: pl.streetSpeed[pl.lagging] - others/float64(len(d.streets)-1)})
	}
	for ci, c := range d.communities {
		var sum float64
		n := 0
		for cj, o := range d.communities {
			if cj != ci && o.street == c.street {
				sum += pl.communitySpeed[cj]
				n++
			}
		}
		if n == 0 {
			continue
		}
		if dev := pl.communitySpeed[ci] - sum/float64(n); dev >= laggingCommunitySpread*communitySpeedSpread {
			out = append(out, &Plant{Kind: PlantLaggingPlace, Subject: c.Code, Area: c.Code, Magnitude: dev})
		}
	}
	return out
}

func (s *Simulator) plantGap() int64 {
	return int64(s.plants.rng.ExpFloat64() * plantDays * 24 * 3600e6 / s.cfg.Anomalies)
}

// plantDue starts the plants whose time has come and retires the ones
// that ended.
func (s *Simulator) plantDue(now int64) {
	if s.plants.next == nil {
		return
	}
	s.plants.active = slices.DeleteFunc(s.plants.active, func(p *Plant) bool { return p.To.UnixMicro() <= now })
	hour := time.UnixMicro(now).In(s.cal.zone).Hour()
	for _, k := range PlantKinds() {
		if k == PlantLaggingPlace || s.plants.next[k] > now {
			continue
		}
		if officeWork[k] && (hour < 9 || hour >= 17) {
			continue // visits, registrations and inspections wait for the day
		}
		s.plants.next[k] = now + s.plantGap()
		if p := s.plant(k, now); p != nil {
			s.plants.ledger = append(s.plants.ledger, p)
			if p.To.UnixMicro() > now {
				s.plants.active = append(s.plants.active, p)
			}
		}
	}
}

// officeWork are the kinds that happen in the daytime: a visitor's hour, a
// visit to a cancelled store, an inspection round.
var officeWork = map[string]bool{PlantVisitorOverload: true, PlantCancelledVisited: true, PlantShellCluster: true}

// Plants returns the ledger of planted anomalies so far, in order of start.
func (s *Simulator) Plants() []Plant {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Plant, len(s.plants.ledger))
	for i, p := range s.plants.ledger {
		out[i] = *p
		out[i].Records = slices.Clone(p.Records)
	}
	return out
}

// inForce returns the plant of kind in force whose subject is subject, or
// nil.
func (s *Simulator) inForce(kind, subject string) *Plant {
	for _, p := range s.plants.active {
		if p.Kind == kind && p.Subject == subject {
			return p
		}
	}
	return nil
}

// spikeGrid returns, while an incident spike is in force, a grid of its
// community (and the plant) for a share of the district's police incidents
// that makes the community's count Magnitude times its usual; else nil.
func (s *Simulator) spikeGrid() (*grid, *Plant) {
	for _, p := range s.plants.active {
		if p.Kind != PlantIncidentSpike {
			continue
		}
		grids := s.communityGrids(p.Area)
		base := float64(len(grids)) / float64(len(s.district.grids))
		extra := base * (p.Magnitude - 1) / (1 + base*(p.Magnitude-1))
		if s.rng.Float64() < extra {
			return s.district.grids[oneOf(s.rng, grids)], p
		}
	}
	return nil, nil
}

// silenced reports whether grid g is in a silent community now.
func (s *Simulator) silenced(g *grid) bool {
	for _, p := range s.plants.active {
		if p.Kind == PlantSilentCommunity && p.Area == g.Parent {
			return true
		}
	}
	return false
}

// communityGrids returns the indexes of a community's grids.
func (s *Simulator) communityGrids(code string) []int {
	var out []int
	for gi, g := range s.district.grids {
		if g.Parent == code {
			out = append(out, gi)
		}
	}
	return out
}

// handlerOf is the staff number of the worker an event in grid g is
// dispatched to: one of its community's three handlers.
func handlerOf(rng *rand.Rand, g *grid) string {
	return fmt.Sprintf("WGY%s-%02d", g.Parent, 1+rng.IntN(3))
}

// visitorOf is the staff number of a door-knocking visitor in grid g.
func visitorOf(rng *rand.Rand, g *grid) string {
	return fmt.Sprintf("ZF%s-%02d", g.Code, 1+rng.IntN(3))
}

// plant starts one plant of kind at now, or returns nil when the district
// offers no subject for it.
func (s *Simulator) plant(kind string, now int64) *Plant {
	rng := s.plants.rng
	d := s.district
	start := time.UnixMicro(now).UTC()
	days := func(lo, hi int) time.Time { return start.Add(time.Duration(lo+rng.IntN(hi-lo+1)) * 24 * time.Hour) }
	g := d.grids[rng.IntN(len(d.grids))]
	p := &Plant{Kind: kind, From: start}
	switch kind {
	case PlantIncidentSpike:
		p.Subject, p.Area, p.To, p.Magnitude = g.Parent, g.Parent, days(3, 7), float64(4+rng.IntN(5))
	case PlantOnTimeDrop:
		st := d.streets[g.street]
		p.Subject, p.Area, p.To, p.Magnitude = st.Code, st.Code, days(28, 31), 0.4+0.2*rng.Float64()
	case PlantSilentCommunity:
		p.Subject, p.Area, p.To = g.Parent, g.Parent, days(6, 10)
	case PlantInstantClosures:
		p.Subject, p.Area, p.To, p.Magnitude = handlerOf(rng, g), g.Parent, days(20, 30), 0.8
	case PlantRepeatBuilding:
		if len(g.buildings) == 0 {
			return nil
		}
		// Long enough for its Magnitude events: each comes back a day or
		// a few after the one before closed.
		p.Subject, p.Area, p.Magnitude = oneOf(rng, g.buildings).code, g.Parent, float64(4+rng.IntN(4))
		p.To = start.Add(time.Duration(p.Magnitude*6*24) * time.Hour)
		s.repeatEvent(p, g)
	case PlantVisitorOverload:
		p.Subject, p.Area, p.To, p.Magnitude = visitorOf(rng, g), g.Parent, start.Add(time.Hour), float64(15+rng.IntN(11))
		s.overload(p, g, now)
	case PlantCancelledVisited:
		if !s.cancelledVisited(p, now) {
			return nil
		}
	case PlantShellCluster:
		p.Area, p.To, p.Magnitude = g.Parent, days(3, 5), float64(6+rng.IntN(7))
		s.shellCluster(p, g, now)
	}
	return p
}

// repeatEvent reports one event of a building's repeated problem; a day or
// a few after it closes, the next is reported (advanceEvent), until
// Magnitude events.
func (s *Simulator) repeatEvent(p *Plant, g *grid) {
	ts := s.stamp(0)
	id := s.idFor(kGridEvent, ts, "")
	cats := []eventCategory{{"04", "03", "物业纠纷", 4, false, false}, {"05", "02", "电动车违规充电", 4, false, false}, {"06", "02", "停水停电", 2, false, false}}
	cat := cats[len(p.Subject)%len(cats)]
	ev, _ := reportedEvent(s.rng, s.cal, g, id, ts)
	ev.CategoryMajor, ev.CategoryMinor, ev.Urgency = cat.major, ptr(cat.minor), "normal"
	ev.Description = ptr(fmt.Sprintf("%s楼栋反映%s，前次处置后再次发生", p.Subject[len(p.Subject)-5:], cat.name))
	ev.BuildingCode = ptr(p.Subject)
	ev.DeadlineAt = ptr(seconds(s.cal.AddWorkingHours(time.UnixMicro(ts), sla("grid", cat.major, "normal")).UnixMicro()))
	s.emit(kGridEvent, id, ev, ts, "")
	p.Records = append(p.Records, id)
	s.startEvent(&pending{ev: ev, g: g, cat: cat, plant: p}, ts)
}

// overload writes a visitor's implausible hour: Magnitude household visits
// in the 60 minutes before now, all met.
func (s *Simulator) overload(p *Plant, g *grid, now int64) {
	gi := s.gridIndex[g.Code]
	hh := s.hhByGrid[gi]
	if len(hh) == 0 {
		return
	}
	n := int(p.Magnitude)
	for i := 0; i < n; i++ {
		ts := s.stamp(0)
		id := s.idFor(kDoorVisit, ts, "")
		visited := now - int64(3600-3600*i/n-rng60(s.rng))*1e6
		visited -= visited % 60e6
		h := s.households[oneOf(s.rng, hh)]
		v := &doorVisit{VisitID: id, CampaignID: s.campaignAt(ts).name, TargetType: "household", TargetID: h.HouseholdID,
			VisitorRole: "community_worker", VisitorID: ptr(p.Subject), VisitedAt: seconds(visited), GridCode: g.Code,
			Outcome: "met", UpdatedAt: micros(ts)}
		v.Lon, v.Lat = jitter(s.rng, g, 0.1)
		s.emit(kDoorVisit, id, v, ts, "")
		p.Records = append(p.Records, id)
	}
	p.From = time.UnixMicro(now - 3600e6).UTC()
	p.To = time.UnixMicro(now).UTC()
}

func rng60(rng *rand.Rand) int { return rng.IntN(60) }

// cancelledVisited cancels the market entity of a store; a few working
// hours later the store is visited as operating (visitCancelled).
func (s *Simulator) cancelledVisited(p *Plant, now int64) bool {
	byUSCI := map[string]int{}
	for i, e := range s.entities {
		byUSCI[e.USCI] = i
	}
	var candidates []int
	for si, st := range s.stores {
		if st.USCI != nil {
			if ei, ok := byUSCI[*st.USCI]; ok && s.entities[ei].RegStatus == "active" {
				candidates = append(candidates, si)
			}
		}
	}
	if len(candidates) == 0 {
		return false
	}
	si := oneOf(s.plants.rng, candidates)
	st := s.stores[si]
	e := s.entities[byUSCI[*st.USCI]]
	e.RegStatus = "cancelled"
	ts := s.stampFor(kMarketEntity, e.USCI)
	e.StatusOn = ptr(time.UnixMicro(ts).In(s.cal.zone).Format(time.DateOnly))
	e.UpdatedAt = micros(ts)
	s.emit(kMarketEntity, e.USCI, e, ts, "")
	g := s.district.grids[s.storeGrid[si]]
	p.Subject, p.Area, p.To = st.StoreID, g.Parent, time.UnixMicro(ts).UTC()
	p.Records = []string{e.USCI}
	s.scheduleAt(&pending{g: g, plant: p, visit: si}, s.afterWorking(ts, 1+6*s.plants.rng.Float64()))
	return true
}

// visitCancelled is the planted visit to store si, whose company was
// cancelled: met, operating.
func (s *Simulator) visitCancelled(p *Plant, si int) {
	st := s.stores[si]
	g := s.district.grids[s.storeGrid[si]]
	vts := s.stamp(0)
	id := s.idFor(kDoorVisit, vts, "")
	visited := vts - int64(s.rng.IntN(600))*1e6
	visited -= visited % 60e6
	v := &doorVisit{VisitID: id, CampaignID: s.campaignAt(vts).name, TargetType: "store", TargetID: st.StoreID,
		VisitorRole: "community_worker", VisitorID: ptr(visitorOf(s.rng, g)), VisitedAt: seconds(visited), GridCode: g.Code,
		Outcome: "met", FieldsUpdated: []string{"staff_n"}, UpdatedAt: micros(vts)}
	v.Lon, v.Lat = jitter(s.rng, g, 0.1)
	s.emit(kDoorVisit, id, v, vts, "")
	p.To = time.UnixMicro(vts).UTC()
	p.Records = append(p.Records, id)
}

// shellCluster registers Magnitude market entities at one address and
// inspects them: most cannot be reached.
func (s *Simulator) shellCluster(p *Plant, g *grid, now int64) {
	rng := s.rng
	st := s.district.streets[g.street]
	p.Subject = fmt.Sprintf("长春新区%s创业大厦%d室", st.Name, 1001+rng.IntN(1800))
	gi := s.gridIndex[g.Code]
	for i := 0; i < int(p.Magnitude); i++ {
		s.newEntity(gi, s.stamp(0))
		e := s.entities[len(s.entities)-1]
		e.RegAddress = ptr(p.Subject)
		e.EntityType = "enterprise"
		ts := s.stampFor(kMarketEntity, e.USCI)
		e.UpdatedAt = micros(ts)
		s.emit(kMarketEntity, e.USCI, e, ts, "")
		p.Records = append(p.Records, e.USCI)
		its := s.stamp(0)
		id := s.idFor(kMarketInspection, its, "")
		result := "unreachable"
		if rng.IntN(6) == 0 {
			result = "info_not_published"
		}
		lt := time.UnixMicro(its).In(s.cal.zone)
		in := &marketInspection{InspectionID: id, TaskID: fmt.Sprintf("SSJ%dQ%d-%02d", lt.Year(), 1+(int(lt.Month())-1)/3, 1+rng.IntN(6)),
			USCI: e.USCI, InspectedAt: seconds(its - int64(rng.IntN(4*3600))*1e6), Result: result, GridCode: g.Code, UpdatedAt: micros(its)}
		s.emit(kMarketInspection, id, in, its, "")
		p.Records = append(p.Records, id)
	}
}
