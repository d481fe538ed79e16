package simulate

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"
)

// team is a roster record of one team of the five forces (五支队伍).
type team struct {
	TeamID         string  `json:"team_id"`
	TeamType       string  `json:"team_type"`
	Name           string  `json:"name"`
	Level          string  `json:"level"`
	GovUnitID      string  `json:"gov_unit_id"`
	AreaCode       *string `json:"area_code"`
	Specialty      *string `json:"specialty"`
	LeaderIDNumber *string `json:"leader_id_number"`
	LeaderPost     *string `json:"leader_post"`
	FormedOn       string  `json:"formed_on"`
	Status         string  `json:"status"`
	UpdatedAt      string  `json:"updated_at"`
}

// teamMember is a roster record of one person's membership of a team.
type teamMember struct {
	MembershipID   string  `json:"membership_id"`
	TeamID         string  `json:"team_id"`
	TeamType       string  `json:"team_type"`
	GovUnitID      string  `json:"gov_unit_id"`
	AreaCode       *string `json:"area_code"`
	MemberIDNumber *string `json:"member_id_number"`
	MemberPhone    *string `json:"member_phone"`
	Role           string  `json:"role"`
	PartyMember    *bool   `json:"party_member"`
	JoinedOn       string  `json:"joined_on"`
	LeftOn         *string `json:"left_on"`
	Status         string  `json:"status"`
	UpdatedAt      string  `json:"updated_at"`
}

// member is a team member as the simulator tracks them: the roster record,
// where they work (grid indexes for the work-record cards' places; all of
// the district for a team above the 乡街) and how often they log work.
type member struct {
	teamType, teamID, idNumber string
	rec                        *teamMember
	grids                      []int   // where their cards are written
	weight                     float64 // relative chance of the next card
}

// memberPick chooses members of one team type in proportion to their weight.
type memberPick struct {
	members []*member
	cum     []float64
}

func (p *memberPick) add(m *member) {
	total := 0.0
	if n := len(p.cum); n > 0 {
		total = p.cum[n-1]
	}
	p.members = append(p.members, m)
	p.cum = append(p.cum, total+m.weight)
}

func (p *memberPick) pick(rng *rand.Rand) *member {
	if len(p.members) == 0 {
		return nil
	}
	x := rng.Float64() * p.cum[len(p.cum)-1]
	return p.members[min(sort.SearchFloat64s(p.cum, x), len(p.members)-1)]
}

// Team types and the shares of work-record cards they write.
var cardShares = []choice[string]{{"sunk_cadre", 25}, {"volunteer", 55}, {"shock_team", 11}, {"fire_team", 9}}

// rosterSizes are the district's five forces as Changchun New Area formed
// them under its 18 measures: a team of sunk cadres (基层主力队) in every
// community; about 150 蒲公英 volunteer teams with 6,000+ volunteers assigned
// to compounds; one 党员突击队 of 20, led by a 处长, per 乡街; one 扑火队 per
// 乡街 and two (epidemic control, general emergencies) at the new-area level
// and in each 开发区; expert pools (专家库) at the new-area level. They do not
// change with the district's scale.
const (
	volunteerTeams      = 150
	volunteersMin       = 30 // per team, uniform up to volunteersMax
	volunteersMax       = 55
	shockTeamSize       = 20
	cadresMin, cadresN  = 4, 7 // per community: 4–10
	fireTeamMin, fireN  = 15, 11
	areaFireMin, areaFN = 25, 16
	expertMin, expertN  = 12, 19
)

// makeRosters forms the teams and their members as of ts, from their own
// random stream (the district's rosters do not depend on the record
// stream), and sets up the weighted choice of the member writing the next
// work-record card.
func (s *Simulator) makeRosters(ts int64) {
	rng := rand.New(rand.NewPCG(uint64(s.cfg.Seed), 0x726f737465727321))
	now := time.UnixMicro(ts).In(s.cal.zone)
	d := s.district
	s.picks = map[string]*memberPick{}
	for _, c := range cardShares {
		s.picks[c.v] = &memberPick{}
	}
	commGrids := make([][]int, len(d.communities))
	streetGrids := make([][]int, len(d.streets))
	all := make([]int, len(d.grids))
	for gi, g := range d.grids {
		commGrids[g.community] = append(commGrids[g.community], gi)
		streetGrids[g.street] = append(streetGrids[g.street], gi)
		all[gi] = gi
	}
	date := func(from, to time.Time) string {
		if !to.After(from) {
			return from.Format(time.DateOnly)
		}
		return from.Add(time.Duration(rng.Int64N(int64(to.Sub(from))))).Format(time.DateOnly)
	}
	form := func(tm *team, n int, area *string, grids []int, activity float64, party float64) {
		formed, _ := time.ParseInLocation(time.DateOnly, tm.FormedOn, s.cal.zone)
		for i := 0; i < n; i++ {
			male := rng.IntN(10) < 6
			m := &member{teamType: tm.TeamType, teamID: tm.TeamID, grids: grids,
				idNumber: residentID(rng, oneOf(rng, localAddressCodes()), birthDate(rng, now, 22, 63), male)}
			role := "member"
			switch {
			case i == 0:
				role = "leader"
				tm.LeaderIDNumber = ptr(m.idNumber)
			case i == 1 && n >= 10:
				role = "deputy"
			}
			m.rec = &teamMember{
				MembershipID: fmt.Sprintf("%s-%04d", tm.TeamID, i+1), TeamID: tm.TeamID, TeamType: tm.TeamType,
				GovUnitID: tm.GovUnitID, AreaCode: area, MemberIDNumber: ptr(m.idNumber), MemberPhone: maybePhone(rng, 0.1),
				Role: role, PartyMember: ptr(rng.Float64() < party), JoinedOn: date(formed, now.AddDate(0, 0, -45)), Status: "active",
			}
			if i == 0 {
				m.rec.JoinedOn = tm.FormedOn
			}
			// A quarter of the people on a roster log nothing in a
			// month (registered, not active); the rest differ widely.
			m.weight = activity * math.Exp(0.7*rng.NormFloat64())
			if rng.Float64() < 0.25 {
				m.weight *= 0.03
			}
			s.members = append(s.members, m)
			if p := s.picks[tm.TeamType]; p != nil {
				p.add(m)
			}
		}
		tm.Status = "active"
		s.teams = append(s.teams, tm)
	}
	// A community's activity follows its other differences: the places
	// that slip on cases log less work.
	commActivity := func(ci int) float64 {
		c := d.communities[ci]
		return math.Exp(-1.2 * (s.places.streetSlips[c.street] + s.places.communitySlips[ci]))
	}

	// Volunteer teams go to communities by their number of grids (at least
	// one each), so that large communities have several.
	nVol := make([]int, len(d.communities))
	left := volunteerTeams - len(d.communities)
	for ci := range d.communities {
		nVol[ci] = 1
	}
	for ; left > 0; left-- {
		nVol[weightedIndex(rng, commGrids)]++
	}
	for ci, c := range d.communities {
		code := c.Code
		unit := "cm-" + c.Code
		formed := time.Date(2023, time.Month(1+rng.IntN(6)), 1+rng.IntN(28), 0, 0, 0, 0, s.cal.zone)
		form(&team{TeamID: "JC" + code, TeamType: "sunk_cadre", Name: c.Name + "下沉干部队", Level: "community", GovUnitID: unit,
			AreaCode: &code, LeaderPost: ptr("包保处级干部"), FormedOn: formed.Format(time.DateOnly)},
			cadresMin+rng.IntN(cadresN), &code, commGrids[ci], 1.6*commActivity(ci), 0.9)
		for v := 1; v <= nVol[ci]; v++ {
			formed := time.Date(2021+rng.IntN(4), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, s.cal.zone)
			form(&team{TeamID: fmt.Sprintf("PGY%s-%02d", code, v), TeamType: "volunteer", Name: fmt.Sprintf("%s蒲公英志愿服务队第%d分队", c.Name, v),
				Level: "community", GovUnitID: unit, AreaCode: &code, LeaderPost: ptr("队长"), FormedOn: formed.Format(time.DateOnly)},
				volunteersMin+rng.IntN(volunteersMax-volunteersMin+1), &code, commGrids[ci], commActivity(ci), 0.3)
		}
	}
	for si, st := range d.streets {
		code := st.Code
		unit := "st-" + st.Code
		form(&team{TeamID: "TJD" + code, TeamType: "shock_team", Name: st.Name + "党员突击队", Level: "street", GovUnitID: unit,
			AreaCode: &code, LeaderPost: ptr("处长"), FormedOn: "2022-04-08"},
			shockTeamSize, &code, streetGrids[si], 1, 1)
		fire := "forest_fire"
		if !st.township {
			fire = "general"
		}
		form(&team{TeamID: "PHD" + code, TeamType: "fire_team", Name: st.Name + "扑火队", Level: "street", GovUnitID: unit,
			AreaCode: &code, Specialty: ptr(fire), LeaderPost: ptr("队长"), FormedOn: "2021-03-15"},
			fireTeamMin+rng.IntN(fireN), &code, streetGrids[si], 1, 0.5)
	}
	areaTeams := func(prefix, unit, name, level string, grids []int) {
		for _, sp := range []struct{ id, name, specialty string }{{"YQ", "疫情防控扑火队", "epidemic"}, {"ZH", "综合应急扑火队", "general"}} {
			form(&team{TeamID: "PHD-" + prefix + "-" + sp.id, TeamType: "fire_team", Name: name + sp.name, Level: level, GovUnitID: unit,
				Specialty: ptr(sp.specialty), LeaderPost: ptr("队长"), FormedOn: "2022-04-01"},
				areaFireMin+rng.IntN(areaFN), nil, grids, 1, 0.6)
		}
	}
	areaTeams("ccna", "ccna", "长春新区", "new_area", all)
	for zi, z := range devZones() {
		var grids []int
		for si, st := range d.streets {
			if st.devZone == zi {
				grids = append(grids, streetGrids[si]...)
			}
		}
		if len(grids) == 0 {
			grids = all
		}
		areaTeams(z.id[len("ccna-"):], z.id, z.name, "dev_zone", grids)
	}
	for _, sp := range []struct{ id, name, specialty string }{{"YL", "医疗卫生", "medical"}, {"DL", "电力抢修", "electrical"},
		{"XL", "心理疏导", "psychological"}, {"JY", "应急救援", "rescue"}} {
		form(&team{TeamID: "ZJK-" + sp.id, TeamType: "expert_pool", Name: "长春新区" + sp.name + "专家库", Level: "new_area", GovUnitID: "ccna",
			Specialty: ptr(sp.specialty), LeaderPost: ptr("召集人"), FormedOn: "2022-06-01"},
			expertMin+rng.IntN(expertN), nil, all, 0.2, 0.5)
	}
}

// weightedIndex picks an index of groups in proportion to each one's size.
func weightedIndex(rng *rand.Rand, groups [][]int) int {
	total := 0
	for _, g := range groups {
		total += len(g)
	}
	x := rng.IntN(max(total, 1))
	for i, g := range groups {
		if x < len(g) {
			return i
		}
		x -= len(g)
	}
	return len(groups) - 1
}

// emitRosters writes every team and membership as the roster systems hold
// them at ts.
func (s *Simulator) emitRosters(ts int64) {
	stamp := micros(ts)
	// An entry the roster system got wrong is published instead of the
	// right one, under an id of the invalid range, as for every record type.
	for _, tm := range s.teams {
		tm.UpdatedAt = stamp
		if reason := s.invalidReason(kTeam); reason != "" {
			bad := *tm
			bad.TeamID = s.nextInvalidID(kTeam)
			s.emit(kTeam, bad.TeamID, &bad, ts, reason)
			continue
		}
		s.emit(kTeam, tm.TeamID, tm, ts, "")
	}
	for _, m := range s.members {
		m.rec.MemberIDNumber = ptr(m.idNumber)
		m.rec.UpdatedAt = stamp
		if reason := s.invalidReason(kTeamMember); reason != "" {
			bad := *m.rec
			bad.MembershipID = s.nextInvalidID(kTeamMember)
			s.emit(kTeamMember, bad.MembershipID, &bad, ts, reason)
			m.rec.Status = "unpublished" // never updated: the source holds no such entry
			continue
		}
		s.emit(kTeamMember, m.rec.MembershipID, m.rec, ts, "")
	}
}

// rosterChange is a ledger update of the rosters: a member leaves their
// team and a newcomer takes the place, under a new membership.
func (s *Simulator) rosterChange() {
	rng := s.rng
	i := rng.IntN(len(s.members))
	m := s.members[i]
	if m.rec.Status != "active" || m.rec.Role == "leader" {
		return
	}
	ts := s.stampFor(kTeamMember, m.rec.MembershipID)
	day := time.UnixMicro(ts).In(s.cal.zone).Format(time.DateOnly)
	m.rec.Status, m.rec.LeftOn, m.rec.UpdatedAt = "left", ptr(day), micros(ts)
	m.weight = 0
	s.emit(kTeamMember, m.rec.MembershipID, m.rec, ts, "")
	n := &member{teamType: m.teamType, teamID: m.teamID, grids: m.grids, weight: math.Exp(0.7 * rng.NormFloat64()),
		idNumber: residentID(rng, oneOf(rng, localAddressCodes()), birthDate(rng, time.UnixMicro(ts), 20, 60), rng.IntN(2) == 0)}
	seq := 1
	for _, o := range s.members {
		if o.teamID == m.teamID {
			seq++
		}
	}
	rec := *m.rec
	rec.MembershipID = fmt.Sprintf("%s-%04d", m.teamID, seq)
	rec.MemberIDNumber, rec.MemberPhone = ptr(n.idNumber), maybePhone(rng, 0.1)
	rec.Role, rec.JoinedOn, rec.LeftOn, rec.Status = "member", day, nil, "active"
	n.rec = &rec
	s.members = append(s.members, n)
	if _, ok := s.picks[n.teamType]; ok {
		s.rebuildPick(n.teamType) // the leaver out, the newcomer in
	}
	s.emit(kTeamMember, rec.MembershipID, &rec, ts, "")
}

// rebuildPick recomputes one team type's weighted choice of members.
func (s *Simulator) rebuildPick(teamType string) {
	p := &memberPick{}
	for _, m := range s.members {
		if m.teamType == teamType && m.weight > 0 {
			p.add(m)
		}
	}
	s.picks[teamType] = p
}

// emergencyMajor is the event class of emergencies (火情, 自然灾害, 公共卫生
// 事件): each one calls out the emergency forces.
const emergencyMajor = "08"

// turnout is the emergency forces' response to an emergency event: members
// of the street's 党员突击队 and 扑火队 (and for a disaster or an epidemic
// case, of the development zone's and the new area's teams) each write a
// work-record card of emergency duty naming the event, with their hours
// (急时档案: who turned out where, for how long, in which emergency).
func (s *Simulator) turnout(ev *gridEvent, g *grid, cat eventCategory, ts int64) {
	rng := s.rng
	st := s.district.streets[g.street]
	teams := map[string]int{"TJD" + st.Code: 2 + rng.IntN(5), "PHD" + st.Code: 2 + rng.IntN(4)}
	if cat.minor != "01" { // not a fire: the zone's and the new area's teams too
		zone := devZones()[st.devZone].id[len("ccna-"):]
		teams["PHD-"+zone+"-ZH"] = 3 + rng.IntN(6)
		teams["PHD-ccna-YQ"] = 2 + rng.IntN(5)
		if cat.minor == "03" {
			teams["PHD-"+zone+"-YQ"] = 4 + rng.IntN(8)
		}
	}
	day := time.UnixMicro(ts).In(s.cal.zone)
	candidates := map[string][]*member{}
	for _, m := range s.members {
		if _, ok := teams[m.teamID]; ok && m.rec.Status == "active" && m.weight > 0 {
			candidates[m.teamID] = append(candidates[m.teamID], m)
		}
	}
	var called []*member
	for _, id := range slices.Sorted(maps.Keys(teams)) {
		c := candidates[id]
		rng.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		called = append(called, c[:min(teams[id], len(c))]...)
	}
	for _, m := range called {
		reason := s.invalidReason(kTeamRecord)
		id := s.idFor(kTeamRecord, ts, reason)
		area := weighted(rng, []choice[string]{{g.Code, 60}, {g.Parent, 30}, {st.Code, 10}})
		tr := &teamRecord{
			RecordID: id, TeamType: m.teamType, TeamID: m.teamID, AreaCode: area,
			WorkDate: day.Format(time.DateOnly), Hours: math.Round(min(max(lognormal(rng, 4, 0.5), 0.5), 16)*2) / 2,
			TaskType: "emergency_duty", EventID: ptr(ev.EventID), RecordedAt: micros(ts), UpdatedAt: micros(ts),
		}
		if rng.IntN(20) > 0 {
			tr.MemberIDNumber = ptr(m.idNumber)
		}
		s.emit(kTeamRecord, id, tr, ts, reason)
	}
}
