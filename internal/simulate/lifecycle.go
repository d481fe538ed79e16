package simulate

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// The lifecycle model: how long each step of a grid event, police incident
// and work order takes, and how often a case goes wrong, by category,
// urgency and place. The package doc lists the ranges and their sources.

// places holds the persistent differences between places: a log-factor on
// handling durations (positive is slower) and one on the shares of things
// going wrong (rework, deferral, return), per street and per community.
// They are drawn once from the seed, so a district keeps its good and its
// lagging streets across runs.
type places struct {
	streetSpeed, communitySpeed []float64
	streetSlips, communitySlips []float64
	// lagging and model are the indexes of the persistently worst and best
	// streets.
	lagging, model int
}

// communitySpeedSpread is the standard deviation of the communities' own
// log-factors on handling durations.
const communitySpeedSpread = 0.15

func newPlaces(seed int64, d *District) places {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x706c61636573))
	p := places{
		streetSpeed: make([]float64, len(d.streets)), communitySpeed: make([]float64, len(d.communities)),
		streetSlips: make([]float64, len(d.streets)), communitySlips: make([]float64, len(d.communities)),
	}
	for i := range d.streets {
		p.streetSpeed[i] = 0.18 * rng.NormFloat64()
		p.streetSlips[i] = 0.20 * rng.NormFloat64()
	}
	for i := range d.communities {
		p.communitySpeed[i] = communitySpeedSpread * rng.NormFloat64()
		p.communitySlips[i] = 0.15 * rng.NormFloat64()
	}
	if n := len(d.streets); n >= 2 {
		p.lagging = rng.IntN(n)
		p.model = (p.lagging + 1 + rng.IntN(n-1)) % n
		p.streetSpeed[p.lagging] += 0.55
		p.streetSlips[p.lagging] += 0.45
		p.streetSpeed[p.model] -= 0.35
		p.streetSlips[p.model] -= 0.35
	}
	return p
}

// speed is the duration factor of grid g (1 is the district's typical).
func (p places) speed(g *grid) float64 {
	return math.Exp(p.streetSpeed[g.street] + p.communitySpeed[g.community])
}

// slips is the factor on the shares of cases going wrong in grid g.
func (p places) slips(g *grid) float64 {
	return math.Exp(p.streetSlips[g.street] + p.communitySlips[g.community])
}

// lognormal draws a duration with the given median and spread (the standard
// deviation of its logarithm).
func lognormal(rng *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*rng.NormFloat64())
}

// chance reports true with probability p (clamped to [0, 1]).
func chance(rng *rand.Rand, p float64) bool { return rng.Float64() < min(max(p, 0), 1) }

// afterWorking is the instant h working hours after ts (office work:
// dispatch, verification, a service desk), compressed by Config.Speed.
func (s *Simulator) afterWorking(ts int64, h float64) int64 {
	due := s.cal.AddWorkingHours(time.UnixMicro(ts), h).UnixMicro()
	return ts + s.compress(due-ts)
}

// afterElapsed is the instant h hours after ts (work that goes on at any
// hour: an urgent repair, a patrol car), compressed by Config.Speed.
func (s *Simulator) afterElapsed(ts int64, h float64) int64 {
	return ts + s.compress(int64(h*3600e6))
}

func (s *Simulator) compress(us int64) int64 {
	if s.cfg.Speed > 1 {
		us = int64(float64(us) / s.cfg.Speed)
	}
	return max(us, 1e6)
}

// scheduleAt queues p's next step at due (Unix µs).
func (s *Simulator) scheduleAt(p *pending, due int64) {
	p.due = due
	s.pseq++
	p.seq = s.pseq
	heap.Push(&s.pending, p)
}

// slaRow is one line of the category time-limit table (处置时限): the
// working hours a case of a platform's category has, by urgency.
type slaRow struct {
	Platform, Category     string
	Normal, Important, Urg float64 // working hours
}

// SLATable is the time-limit table the simulated platforms compute their
// deadlines from, and that WriteReference writes as category_sla.csv for
// the indicators: grid events by major class (DOMAIN.md §6; CJ/T 315 sets
// limits per class in 工作时), work orders by category.
func SLATable() []slaRow {
	return []slaRow{
		{"grid", "01", 8, 4, 4},   // 市容环境: 暴露垃圾 4 工作时 in the cited table; the class at one working day
		{"grid", "02", 8, 4, 4},   // 街面秩序
		{"grid", "03", 40, 16, 4}, // 施工管理: stop work 4 工作时, penalties in working days
		{"grid", "04", 40, 24, 4}, // 矛盾纠纷: mediation takes days
		{"grid", "05", 16, 8, 4},  // 安全隐患
		{"grid", "06", 24, 16, 4}, // 民生服务
		{"grid", "07", 16, 8, 4},  // 治安
		{"grid", "08", 4, 4, 4},   // 突发事件
		{"property", "water_elec", 8, 8, 4},
		{"property", "elevator", 8, 8, 4},
		{"property", "heating", 8, 8, 4},
		{"property", "public_facility", 16, 16, 4},
		{"property", "environment", 16, 16, 4},
		{"property", "security", 16, 16, 4},
		{"property", "parking", 16, 16, 4},
		{"property", "neighbour", 16, 16, 4},
		{"property", "fee", 16, 16, 4},
	}
}

// sla returns the working hours of a case of platform's category at
// urgency (urgent, important, anything else normal).
func sla(platform, category, urgency string) float64 {
	for _, r := range SLATable() {
		if r.Platform == platform && r.Category == category {
			switch urgency {
			case "urgent":
				return r.Urg
			case "important":
				return r.Important
			}
			return r.Normal
		}
	}
	return 16
}

// --- grid events ------------------------------------------------------------

// startEvent queues a new grid event's acceptance and dispatch by the grid
// centre: office work in working hours, an urgent event within minutes at
// any hour. A few patrol finds of street and cleanliness classes are dealt
// with on the spot by the gridder who found them (随手办), dispatched and
// closed within minutes.
func (s *Simulator) startEvent(p *pending, ts int64) {
	rng := s.rng
	ev := p.ev
	switch {
	case ev.Urgency == "urgent":
		s.scheduleAt(p, s.afterElapsed(ts, lognormal(rng, 0.15, 0.6)))
	case ev.Source == "gridder_patrol" && (ev.CategoryMajor == "01" || ev.CategoryMajor == "02") && chance(rng, 0.07):
		p.next = "spot"
		s.scheduleAt(p, s.afterElapsed(ts, lognormal(rng, 0.04, 0.5)))
	case ev.Urgency == "important":
		s.scheduleAt(p, s.afterWorking(ts, lognormal(rng, 0.35, 0.9)))
	default:
		s.scheduleAt(p, s.afterWorking(ts, lognormal(rng, 0.5, 0.9)))
	}
}

// handling is when a dispatched event is handled: its time limit times a
// share drawn around a third (a fifth for the quick classes), slower in lagging places, for outdoor classes
// in the heating season, and on a second attempt after rework faster.
func (s *Simulator) handling(p *pending, ts int64, factor float64) int64 {
	ev := p.ev
	f := factor * s.places.speed(p.g)
	if d := s.inForce(PlantOnTimeDrop, s.district.streets[p.g.street].Code); d != nil && chance(s.rng, d.Magnitude) {
		f *= 5 // a street's on-time rate planted to drop: this case waits
		if !slices.Contains(d.Records, ev.EventID) {
			d.Records = append(d.Records, ev.EventID)
		}
	}
	if heatingSeason(time.UnixMicro(ts)) && ev.CategoryMajor <= "03" {
		f *= 1.15
	}
	if ev.Urgency == "urgent" {
		return s.afterElapsed(ts, lognormal(s.rng, 1.2*f, 0.6))
	}
	share := 0.3
	if ev.CategoryMajor == "01" || ev.CategoryMajor == "02" {
		share = 0.2 // sanitation and street order answer within hours
	}
	return s.afterWorking(ts, sla("grid", ev.CategoryMajor, ev.Urgency)*lognormal(s.rng, share*f, 0.75))
}

// advanceEvent moves a grid event one step along its lifecycle (DOMAIN.md
// §6): reported → dispatched → handled → closed → evaluated, with
// rejection and merging at acceptance, return (回退) and escalation (上报)
// after dispatch, deferral (挂账), and rework (返工) when the on-site check
// fails. The shares differ by place (places.slips).
func (s *Simulator) advanceEvent(p *pending) {
	rng := s.rng
	ev := p.ev
	ts := s.stampFor(kGridEvent, ev.EventID)
	at := micros(ts)
	slips := s.places.slips(p.g)
	switch ev.Status {
	case "reported":
		if p.next != "spot" && p.plant == nil { // a planted case runs its course
			if chance(rng, 0.03) {
				ev.Status = "rejected"
				break
			}
			if chance(rng, 0.015) {
				ev.Status = "merged"
				break
			}
		}
		ev.Status = "dispatched"
		ev.DispatchedAt = ptr(at)
		ev.HandlerID = ptr(handlerOf(rng, p.g))
		if ip := s.inForce(PlantInstantClosures, *ev.HandlerID); ip != nil && ev.Urgency != "urgent" && p.next == "" && chance(rng, ip.Magnitude) {
			p.next, p.plant = "instant", ip // closed minutes later, without anyone going there
			ip.Records = append(ip.Records, ev.EventID)
		}
		switch {
		case p.next == "instant":
			s.scheduleAt(p, ts+int64((60+rng.IntN(240))*1e6))
		case p.next == "spot":
			s.scheduleAt(p, s.afterElapsed(ts, lognormal(rng, 0.07, 0.4)))
		case p.plant != nil:
			s.scheduleAt(p, s.handling(p, ts, 1))
		case chance(rng, 0.03*slips):
			p.next = "return"
			s.scheduleAt(p, s.afterWorking(ts, lognormal(rng, 1.0, 0.8)))
		case ev.Urgency != "urgent" && chance(rng, 0.01*slips):
			p.next = "escalate"
			s.scheduleAt(p, s.afterWorking(ts, lognormal(rng, 2, 0.6)))
		case ev.Urgency != "urgent" && chance(rng, 0.015*slips):
			p.next = "defer"
			s.scheduleAt(p, s.afterWorking(ts, lognormal(rng, 8, 0.8)))
		default:
			s.scheduleAt(p, s.handling(p, ts, 1))
		}
	case "dispatched":
		switch p.next {
		case "return":
			ev.Status = "returned"
			p.next = ""
			s.scheduleAt(p, s.afterWorking(ts, lognormal(rng, 1.5, 0.8)))
		case "escalate":
			ev.Status = "escalated"
			p.next = ""
			s.scheduleAt(p, s.afterWorking(ts, lognormal(rng, 16, 0.6)))
		case "defer":
			ev.Status = "deferred"
			ev.Deferred = ptr(true)
		default:
			ev.Status = "handled"
			ev.HandledAt = ptr(at)
			if p.next == "instant" {
				s.scheduleAt(p, ts+int64((30+rng.IntN(150))*1e6))
			} else if p.next == "spot" {
				s.scheduleAt(p, s.afterElapsed(ts, lognormal(rng, 0.03, 0.4)))
			} else if ev.Urgency == "urgent" {
				s.scheduleAt(p, s.afterElapsed(ts, lognormal(rng, 0.5, 0.6)))
			} else {
				s.scheduleAt(p, s.afterWorking(ts, lognormal(rng, 0.8*math.Sqrt(s.places.speed(p.g)), 0.8)))
			}
		}
	case "returned":
		ev.Status = "dispatched"
		ev.DispatchedAt = ptr(at)
		s.scheduleAt(p, s.handling(p, ts, 1))
	case "escalated":
		ev.Status = "handled"
		ev.HandledAt = ptr(at)
		s.scheduleAt(p, s.afterWorking(ts, lognormal(rng, 1.2, 0.8)))
	case "handled":
		if p.next != "spot" && p.plant == nil && chance(rng, 0.05*slips) {
			ev.Status = "rework"
			ev.ReworkCount = ptr(*ev.ReworkCount + 1)
			s.scheduleAt(p, s.afterWorking(ts, lognormal(rng, 0.5, 0.6)))
			break
		}
		ev.Status = "closed"
		ev.ClosedAt = ptr(at)
		if r := p.plant; r != nil && r.Kind == PlantRepeatBuilding && float64(len(r.Records)) < r.Magnitude && ts < r.To.UnixMicro() {
			// The problem comes back a day or a few after each closure.
			s.scheduleAt(&pending{g: p.g, plant: r, repeat: true}, s.afterElapsed(ts, 24+72*rng.Float64()))
		}
		if chance(rng, 0.45) {
			s.scheduleAt(p, s.afterElapsed(ts, lognormal(rng, 30, 0.5)))
		}
	case "rework":
		ev.Status = "dispatched"
		s.scheduleAt(p, s.handling(p, ts, 0.5))
	case "closed":
		ev.Status = "evaluated"
		ev.Satisfaction = weighted(rng, []choice[*string]{{ptr("satisfied"), 70}, {ptr("basic"), 20}, {ptr("unsatisfied"), 5}, {ptr("unreached"), 5}})
	}
	ev.UpdatedAt = at
	s.emit(kGridEvent, ev.EventID, ev, ts, "")
}

// --- police incidents ---------------------------------------------------------

// incidentHours is the typical time on scene by first-level category.
var incidentHours = map[string]float64{
	"traffic": 0.7, "dispute": 1.2, "public_order": 1.5, "criminal": 3,
	"assistance": 0.75, "fire_disaster": 2, "other": 0.5,
}

// startIncident queues a call's dispatch: a patrol arrives in about 11
// minutes (longer at night and in the townships); an invalid call or a
// consultation is closed on the phone within minutes.
func (s *Simulator) startIncident(p *pending, ts int64) {
	rng := s.rng
	pi := p.pi
	if pi.CallType == "invalid" || pi.CallType == "consult" {
		s.scheduleAt(p, s.afterElapsed(ts, lognormal(rng, 0.05, 0.5)))
		return
	}
	f := 1.0
	if s.district.streets[p.g.street].township {
		f *= 1.5
	}
	if h := time.UnixMicro(ts).In(s.cal.zone).Hour(); h < 6 || h >= 22 {
		f *= 1.2
	}
	s.scheduleAt(p, s.afterElapsed(ts, lognormal(rng, 0.18*f, 0.5)))
}

// advanceIncident moves an incident from received to arrived to closed.
func (s *Simulator) advanceIncident(p *pending) {
	rng := s.rng
	pi := p.pi
	ts := s.stampFor(kPoliceIncident, pi.IncidentID)
	at := micros(ts)
	switch {
	case pi.ArrivedAt == nil && (pi.CallType == "invalid" || pi.CallType == "consult"):
		pi.ClosedAt = ptr(at)
		pi.Disposal = ptr(oneOf(rng, []string{"advised", "other"}))
	case pi.ArrivedAt == nil:
		pi.ArrivedAt = ptr(at)
		s.scheduleAt(p, s.afterElapsed(ts, lognormal(rng, incidentHours[pi.CategoryL1], 0.7)))
	default:
		pi.ClosedAt = ptr(at)
		var d string
		switch pi.CategoryL1 {
		case "dispute":
			d = weighted(rng, []choice[string]{{"mediated", 70}, {"advised", 20}, {"transferred", 10}})
		case "criminal":
			d = weighted(rng, []choice[string]{{"case_opened", 60}, {"transferred", 25}, {"other", 15}})
		case "public_order":
			d = weighted(rng, []choice[string]{{"case_opened", 30}, {"mediated", 40}, {"advised", 30}})
		default:
			d = weighted(rng, []choice[string]{{"advised", 40}, {"transferred", 20}, {"other", 40}})
		}
		pi.Disposal = ptr(d)
	}
	pi.UpdatedAt = at
	s.emit(kPoliceIncident, pi.IncidentID, pi, ts, "")
}

// --- work orders --------------------------------------------------------------

// repair is how a work order's category is repaired: the typical hours on
// site, and whether the clock is working time (a desk or a contractor) or
// elapsed (a burst pipe, a stuck lift).
var repair = map[string]struct {
	hours   float64
	working bool
}{
	"water_elec": {1.5, false}, "elevator": {2.5, false}, "heating": {3, false},
	"public_facility": {4, true}, "environment": {2, true}, "security": {0.5, false},
	"parking": {1, true}, "neighbour": {5, true}, "fee": {2.5, true},
}

// startOrder queues a new order's assignment by the service desk.
func (s *Simulator) startOrder(p *pending, ts int64) {
	rng := s.rng
	if p.wo.Urgent != nil && *p.wo.Urgent {
		s.scheduleAt(p, s.afterElapsed(ts, lognormal(rng, 0.12, 0.6)))
		return
	}
	s.scheduleAt(p, s.afterWorking(ts, lognormal(rng, 0.4, 0.9)))
}

// advanceOrder moves a work order along created → assigned → arrived →
// completed → called_back; a few are cancelled before assignment and a few
// reopened.
func (s *Simulator) advanceOrder(p *pending) {
	rng := s.rng
	wo := p.wo
	ts := s.stampFor(kWorkOrder, wo.OrderID)
	at := micros(ts)
	urgent := wo.Urgent != nil && *wo.Urgent
	f := s.places.speed(p.g)
	switch wo.Status {
	case "created":
		if chance(rng, 0.02) {
			wo.Status = "cancelled"
			break
		}
		wo.Status = "assigned"
		wo.AssignedAt = ptr(at)
		if urgent {
			s.scheduleAt(p, s.afterElapsed(ts, lognormal(rng, 0.6*f, 0.5)))
		} else {
			s.scheduleAt(p, s.afterWorking(ts, lognormal(rng, 1.5*f, 0.9)))
		}
	case "assigned":
		wo.Status = "arrived"
		wo.ArrivedAt = ptr(at)
		r := repair[wo.Category]
		h := lognormal(rng, r.hours*f, 0.8)
		if wo.Kind == "consult" || wo.Kind == "suggestion" {
			h /= 3
		}
		if r.working && !urgent {
			s.scheduleAt(p, s.afterWorking(ts, h))
		} else {
			s.scheduleAt(p, s.afterElapsed(ts, h))
		}
	case "arrived":
		wo.Status = "completed"
		wo.CompletedAt = ptr(at)
		wo.Reopened = ptr(chance(rng, 0.03*s.places.slips(p.g)))
		if chance(rng, 0.6) {
			s.scheduleAt(p, s.afterElapsed(ts, lognormal(rng, 28, 0.4)))
		}
	case "completed":
		wo.Status = "called_back"
		wo.Satisfaction = ptr(weighted(rng, []choice[int]{{5, 55}, {4, 25}, {3, 10}, {2, 5}, {1, 5}}))
	}
	wo.UpdatedAt = at
	s.emit(kWorkOrder, wo.OrderID, wo, ts, "")
}
