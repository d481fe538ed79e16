package simulate

import (
	"fmt"
	"math"
	"time"
)

// campaign is one half-year's door-knocking action (敲门行动): every grid
// goes door to door through its households and its "十小" stores in an order
// of its own, at a pace of its own, so that coverage grows through the
// half-year and some grids lag behind (the places that slip on cases slip
// here too). A door found closed is tried again before new doors. A grid
// ahead of its schedule spends its visits on buildings and key persons
// rather than knocking twice.
type campaign struct {
	name       string // 2026H2
	start, end int64  // Unix µs
	households []round
	stores     []round
}

// round is one grid's progress through one kind of target.
type round struct {
	order []int   // targets (indices into the simulator's list) in calling order
	next  int     // the first target not yet called on
	retry []int   // called on without meeting anyone, to try again
	pace  float64 // the share of its targets the grid calls on by the end
}

// campaignAt returns the campaign running at ts, starting it when a new
// half-year begins.
func (s *Simulator) campaignAt(ts int64) *campaign {
	lt := time.UnixMicro(ts).In(s.cal.zone)
	half, month := 1, time.January
	if lt.Month() > 6 {
		half, month = 2, time.July
	}
	name := fmt.Sprintf("%dH%d", lt.Year(), half)
	if s.campaign != nil && s.campaign.name == name {
		return s.campaign
	}
	start := time.Date(lt.Year(), month, 1, 0, 0, 0, 0, s.cal.zone)
	c := &campaign{name: name, start: start.UnixMicro(), end: start.AddDate(0, 6, 0).UnixMicro()}
	rng := s.rng
	d := s.district
	storesByGrid := make([][]int, len(d.grids))
	for si, gi := range s.storeGrid {
		storesByGrid[gi] = append(storesByGrid[gi], si)
	}
	c.households = make([]round, len(d.grids))
	c.stores = make([]round, len(d.grids))
	for gi, g := range d.grids {
		// Most grids finish with weeks to spare; a lagging community
		// reaches barely two thirds.
		pace := 1.3 * math.Exp(-0.9*(s.places.streetSlips[g.street]+s.places.communitySlips[g.community])+0.12*rng.NormFloat64())
		for _, r := range []struct {
			dst     *round
			targets []int
			pace    float64
		}{{&c.households[gi], s.hhByGrid[gi], pace}, {&c.stores[gi], storesByGrid[gi], 0.8 * pace}} {
			order := append([]int(nil), r.targets...)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			*r.dst = round{order: order, pace: r.pace}
		}
	}
	s.campaign = c
	return c
}

// call picks the next target of a grid's round at ts: a door not yet
// called on while the grid is behind its schedule, else a door to try
// again; -1 when the grid is ahead with nothing to retry. first reports a
// first call (a door not met then goes on the retry list).
func (r *round) call(c *campaign, ts int64) (target int, first bool) {
	elapsed := float64(ts-c.start) / float64(c.end-c.start)
	due := int(math.Ceil(r.pace * min(max(elapsed, 0), 1) * float64(len(r.order))))
	switch {
	case r.next < len(r.order) && r.next < due:
		r.next++
		return r.order[r.next-1], true
	case len(r.retry) > 0:
		t := r.retry[0]
		r.retry = r.retry[1:]
		return t, false
	}
	return -1, false
}
