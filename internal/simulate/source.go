package simulate

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures the simulated source systems. The zero value is usable:
// seed 0, scale 1, no stream, no invalid records, the wall clock, no token,
// no injected faults.
type Config struct {
	// Seed makes the district and every generated record reproducible.
	Seed int64
	// Scale multiplies the households, stores and market entities per grid
	// (a few hundred households per grid at 1.0). 0 or less means 1.
	Scale float64
	// Rate is the number of new stream records (events, visits, incidents,
	// work orders, inspections, team records) per second across all types
	// at the weekday-daytime peak; the rhythm scales it down at other times.
	// Ledger updates add 5% of Rate and lifecycle steps add further
	// versions. 0 means only the initial load; at most 1,000,000.
	Rate float64
	// InvalidShare is the share, 0 to 1, of new records emitted invalid.
	InvalidShare float64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Token, when not empty, is required as "Authorization: Bearer <token>"
	// on every data request.
	Token string
	// FailEvery, when positive, makes every FailEvery-th data request
	// answer 503 Service Unavailable with Retry-After: 1.
	FailEvery int
	// History, when positive, makes Run start with the records the source
	// systems would already hold: the ledgers as they were History ago and
	// the stream since then at HistoryRate (records/s at the peak, shaped by
	// the same rhythm), so that a fresh pipeline finds every record type
	// even at night or on a holiday.
	History     time.Duration
	HistoryRate float64
	// HTTPTypes, when not nil, are the record types the HTTP API serves;
	// the others answer 404, so that a deployment that publishes them by
	// another transport (PublishLedgers, PublishPostgres, PublishKafka)
	// cannot poll them twice. Nil serves every type.
	HTTPTypes []string
	// Dir is where the source systems keep their records' bytes (one
	// unlinked file per record type, gone with the process); empty means
	// the system's temporary directory.
	Dir string
	// Anomalies, when positive, plants the anomalies of PlantKinds at
	// seeded random places and times, in the history and the live stream:
	// each kind this many times per 30 days on average. Plants returns
	// their ledger.
	Anomalies float64
	// Speed, when above 1, divides every lifecycle delay (a case that
	// takes two working days takes 48 minutes at 60), for tests and a
	// quick look; 0 or 1 is the wall clock's pace.
	Speed float64
	// Log gets a line for each failed publish of the Publish* loops
	// (default: discarded). It never carries a record's content.
	Log *slog.Logger
}

// Validate reports what is wrong with the configuration that New would
// otherwise silently correct or ignore: unknown record types in HTTPTypes.
func (c Config) Validate() error {
	var errs []error
	known := RecordTypes()
	for i, name := range c.HTTPTypes {
		if !slices.Contains(known, name) {
			errs = append(errs, fmt.Errorf("HTTPTypes[%d]: unknown record type %q; known: %s", i, name, strings.Join(known, ", ")))
		}
	}
	return errors.Join(errs...)
}

// maxRate bounds Config.Rate so that a tick always ends.
const maxRate = 1_000_000

// kind is a record type.
type kind int

// The record types, in the order of the platforms that serve them.
const (
	kGridEvent kind = iota
	kDoorVisit
	kHousehold
	kTeamRecord
	kPoliceIncident
	kStore
	kMarketEntity
	kMarketInspection
	kWorkOrder
	kTeam
	kTeamMember
	nKinds
)

// kindInfo describes a record type: where it is served, how its ids look and
// how it can be made invalid.
type kindInfo struct {
	name      string
	platform  string
	prefix    string      // valid id prefix
	areaField string      // the field bad_grid_code breaks
	enums     [][2]string // field and a value outside its enum
	timeField string      // the field bad_timestamp breaks
	dateOnly  bool        // timeField has format date
	removable []string    // required fields missing_field may drop
	usci      bool        // has a usci field
}

func kindTable() [nKinds]kindInfo {
	return [nKinds]kindInfo{
		kGridEvent: {
			name: "grid_event", platform: "grid", prefix: "GE", areaField: "grid_code",
			enums:     [][2]string{{"urgency", "very_urgent"}, {"status", "pending"}, {"source", "wechat"}},
			timeField: "reported_at",
			removable: []string{"source", "category_major", "urgency", "grid_code", "status", "reported_at"},
		},
		kDoorVisit: {
			name: "door_visit", platform: "grid", prefix: "DV", areaField: "grid_code",
			enums:     [][2]string{{"outcome", "unknown"}, {"target_type", "vehicle"}, {"visitor_role", "stranger"}},
			timeField: "visited_at",
			removable: []string{"campaign_id", "target_type", "target_id", "visitor_role", "visited_at", "grid_code", "outcome"},
		},
		kHousehold: {
			name: "household", platform: "grid", prefix: "H", areaField: "grid_code",
			enums:     [][2]string{{"resident_type", "tourist"}, {"occupancy", "sublet"}},
			timeField: "last_verified_at",
			removable: []string{"grid_code", "room_code", "resident_type", "members_n"},
		},
		kTeamRecord: {
			name: "team_record", platform: "grid", prefix: "TR", areaField: "area_code",
			enums:     [][2]string{{"task_type", "meeting"}, {"team_type", "militia"}},
			timeField: "recorded_at",
			removable: []string{"team_type", "team_id", "area_code", "work_date", "hours", "task_type", "recorded_at"},
		},
		kPoliceIncident: {
			name: "police_incident", platform: "police", prefix: "PI", areaField: "grid_code",
			enums:     [][2]string{{"call_type", "prank"}, {"category_l1", "cyber"}},
			timeField: "received_at",
			removable: []string{"received_at", "call_type", "category_l1", "is_valid", "station_code", "grid_code"},
		},
		kStore: {
			name: "store", platform: "market", prefix: "S", areaField: "grid_code",
			enums:     [][2]string{{"store_category", "bar"}},
			timeField: "last_visit_at",
			removable: []string{"signboard", "store_category", "grid_code"},
			usci:      true,
		},
		kMarketEntity: {
			name: "market_entity", platform: "market", prefix: "9", areaField: "grid_code",
			enums:     [][2]string{{"reg_status", "suspended"}, {"entity_type", "branch"}},
			timeField: "established_on", dateOnly: true,
			removable: []string{"name", "entity_type", "reg_status", "grid_code"},
			usci:      true,
		},
		kMarketInspection: {
			name: "market_inspection", platform: "market", prefix: "MI", areaField: "grid_code",
			enums:     [][2]string{{"result", "passed"}},
			timeField: "inspected_at",
			removable: []string{"task_id", "usci", "inspected_at", "result", "grid_code"},
			usci:      true,
		},
		kTeam: {
			name: "team", platform: "grid", prefix: "TM", areaField: "area_code",
			enums:     [][2]string{{"team_type", "militia"}, {"level", "province"}},
			timeField: "formed_on", dateOnly: true,
			removable: []string{"team_type", "name", "level", "gov_unit_id", "formed_on", "status"},
		},
		kTeamMember: {
			name: "team_member", platform: "grid", prefix: "MB", areaField: "area_code",
			enums:     [][2]string{{"role", "captain"}, {"status", "suspended"}},
			timeField: "joined_on", dateOnly: true,
			removable: []string{"team_id", "team_type", "gov_unit_id", "role", "joined_on", "status"},
		},
		kWorkOrder: {
			name: "work_order", platform: "property", prefix: "WO", areaField: "grid_code",
			enums:     [][2]string{{"status", "open"}, {"kind", "praise"}, {"category", "wifi"}},
			timeField: "created_at",
			removable: []string{"kind", "category", "object_type", "grid_code", "created_at", "status"},
		},
	}
}

// RecordTypes returns the names of the record types the simulator serves.
func RecordTypes() []string {
	kt := kindTable()
	out := make([]string, nKinds)
	for i, k := range kt {
		out[i] = k.name
	}
	return out
}

// Path returns the API path that serves a record type, such as
// /api/grid/grid_event, and false for an unknown type.
func Path(recordType string) (string, bool) {
	for _, k := range kindTable() {
		if k.name == recordType {
			return "/api/" + k.platform + "/" + k.name, true
		}
	}
	return "", false
}

// Simulator is the set of simulated source systems: the grid, police, market
// and property platforms of the district, each holding its records and
// serving them over HTTP. All methods are safe for concurrent use.
type Simulator struct {
	cfg      Config
	district *District
	cal      *Calendar
	kinds    [nKinds]kindInfo
	http     [nKinds]bool // served by the HTTP API
	requests atomic.Int64

	mu       sync.Mutex
	rng      *rand.Rand
	err      error // first encoding error; Run returns it
	loaded   bool
	clock    int64 // the latest updated_at handed out, Unix µs
	served   int64 // the latest updated_at a response returned
	lastTick int64 // Unix µs of the previous tick, 0 before the first
	accNew   float64
	accLedg  float64
	tables   [nKinds]*table
	seq      [nKinds]int // valid ids issued
	xseq     [nKinds]int // invalid ids issued
	usedUSCI map[string]bool

	households []*household
	stores     []*store
	entities   []*marketEntity
	// entityIndex is the index of each entity by credit code (rebuilt
	// when entities were added).
	entityIndex map[string]int
	hhByGrid    [][]int // grid index → household indices
	storeGrid   []int   // store index → grid index
	entityGrid  []int   // entity index → grid index
	entByGrid   [][]int // grid index → entity indices
	gridIndex   map[string]int
	teams       []*team
	members     []*member
	picks       map[string]*memberPick // team type → who writes the next card
	campaign    *campaign              // the door-knocking campaign running
	plants      plants
	recent      []string // recent valid grid event ids, a ring
	pending     pendingQueue
	pseq        uint64
	places      places
}

// New returns a simulator configured by cfg. Nothing is generated until Run
// or Step is first called; that first call loads the ledgers.
func New(cfg Config) *Simulator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Scale <= 0 || math.IsNaN(cfg.Scale) {
		cfg.Scale = 1
	}
	if math.IsNaN(cfg.Rate) || cfg.Rate < 0 {
		cfg.Rate = 0
	}
	cfg.Rate = min(cfg.Rate, maxRate)
	cfg.InvalidShare = min(max(cfg.InvalidShare, 0), 1)
	if math.IsNaN(cfg.InvalidShare) {
		cfg.InvalidShare = 0
	}
	s := &Simulator{
		cfg:       cfg,
		district:  NewDistrict(cfg.Seed, cfg.Scale),
		cal:       OfficialCalendar(),
		kinds:     kindTable(),
		rng:       rand.New(rand.NewPCG(uint64(cfg.Seed), 0x73747265616d2121)),
		usedUSCI:  map[string]bool{},
		gridIndex: map[string]int{},
	}
	for k := range s.tables {
		s.tables[k] = newTable(s.kinds[k].name, cfg.Dir)
		s.http[k] = cfg.HTTPTypes == nil || slices.Contains(cfg.HTTPTypes, s.kinds[k].name)
	}
	for i, g := range s.district.grids {
		s.gridIndex[g.Code] = i
	}
	s.places = newPlaces(cfg.Seed, s.district)
	s.hhByGrid = make([][]int, len(s.district.grids))
	s.entByGrid = make([][]int, len(s.district.grids))
	return s
}

// District returns the district the simulator's records live in.
func (s *Simulator) District() *District { return s.district }

// Calendar returns the working-day calendar that shapes the rate.
func (s *Simulator) Calendar() *Calendar { return s.cal }

// Run loads the ledgers (if Step has not) and then generates the stream in
// real time until ctx ends: new records at Rate shaped by the rhythm, ledger
// updates, and the lifecycle steps of open events, incidents and work orders
// as they fall due. It ticks every 20 ms, reading the clock once per tick. It
// returns nil when ctx ends, or an error if a record could not be encoded.
func (s *Simulator) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.cfg.History > 0 && !s.loaded {
		s.backfill(s.cfg.Now())
	}
	s.ensureLoaded()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("initial load: %w", err)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.mu.Lock()
		s.tick(s.cfg.Now())
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("generate stream: %w", err)
		}
	}
}

// Step loads the ledgers if needed and then performs n stream operations at
// once, without sleeping, all at the current clock reading: about 62% new
// records, 30% the next lifecycle step of the open record due soonest and
// 8% ledger updates. Tests use it for a fixed amount of data.
func (s *Simulator) Step(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureLoaded()
	s.advanceClock(s.cfg.Now())
	for i := 0; i < n; i++ {
		r := s.rng.Float64()
		switch {
		case r < 0.30 && len(s.pending) > 0:
			s.advance(heap.Pop(&s.pending).(*pending))
		case r < 0.38:
			s.ledgerUpdate()
		default:
			s.newRecord(s.pickKind(time.UnixMicro(s.clock)))
		}
	}
}

// tick performs the work that fell due since the previous tick.
func (s *Simulator) tick(now time.Time) {
	s.advanceClock(now)
	nowUS := now.UnixMicro()
	if s.lastTick == 0 || nowUS < s.lastTick {
		s.lastTick = nowUS
	}
	// A long pause (or a jump of the clock) must not produce a burst.
	dt := min(float64(nowUS-s.lastTick)/1e6, 5)
	s.lastTick = nowUS
	s.generate(now, dt, s.cfg.Rate)
}

// generate performs the lifecycle steps due by the clock and dt seconds of
// new records and ledger updates at rate, shaped by the rhythm at now.
func (s *Simulator) generate(now time.Time, dt, rate float64) {
	s.plantDue(s.clock)
	for len(s.pending) > 0 && s.pending[0].due <= s.clock {
		s.advance(heap.Pop(&s.pending).(*pending))
	}
	if rate <= 0 {
		return
	}
	m := s.cal.Rhythm(now)
	s.accNew += rate * m * dt
	for s.accNew >= 1 {
		s.accNew--
		s.newRecord(s.pickKind(now))
	}
	s.accLedg += rate * m * dt * 0.05
	for s.accLedg >= 1 {
		s.accLedg--
		s.ledgerUpdate()
	}
}

// backfill loads the ledgers as of History before now and generates the
// stream from then to now in one-minute steps, with past timestamps.
func (s *Simulator) backfill(now time.Time) {
	start := now.Add(-s.cfg.History)
	s.advanceClock(start)
	s.ensureLoaded()
	for t := start; t.Before(now); t = t.Add(time.Minute) {
		s.advanceClock(t)
		s.generate(t, 60, s.cfg.HistoryRate)
	}
	s.lastTick = 0
}

// advanceClock moves the clock to now, never backwards.
func (s *Simulator) advanceClock(now time.Time) {
	if us := now.UnixMicro(); us > s.clock {
		s.clock = us
	}
}

// stamp returns the updated_at of a version whose previous version (0 for a
// new record) has updated_at prev. It is the clock, moved just past prev so
// that versions of a record strictly increase, and past the latest updated_at
// already served, so that a write never lands behind a client's cursor.
// Different records written between two reads share timestamps freely.
func (s *Simulator) stamp(prev int64) int64 {
	ts := s.clock
	if ts <= s.served {
		ts = s.served + 1
	}
	if ts <= prev {
		ts = prev + 1
	}
	s.clock = ts
	return ts
}

// stampFor stamps a new version of record id of kind k.
func (s *Simulator) stampFor(k kind, id string) int64 {
	var prev int64
	if r, ok := s.tables[k].recs[id]; ok {
		prev = r.ts
	}
	return s.stamp(prev)
}

// emit stores a version of a record; a non-empty reason stores it invalid.
func (s *Simulator) emit(k kind, id string, v any, ts int64, reason string) {
	var raw []byte
	var err error
	if reason == "" {
		raw, err = json.Marshal(v)
	} else {
		raw, err = s.corrupted(k, v, reason)
	}
	if err != nil {
		if s.err == nil {
			s.err = fmt.Errorf("encode %s %s: %w", s.kinds[k].name, id, err)
		}
		return
	}
	if err := s.tables[k].put(id, ts, raw, reason); err != nil && s.err == nil {
		s.err = err
	}
}

// idFor returns the id of a new stream record: for a valid one the type
// prefix, the local date and a per-type sequence (GE20261126000042), for an
// invalid one the next id of the X range.
func (s *Simulator) idFor(k kind, ts int64, reason string) string {
	if reason != "" {
		return s.nextInvalidID(k)
	}
	s.seq[k]++
	return fmt.Sprintf("%s%s%06d", s.kinds[k].prefix, time.UnixMicro(ts).In(s.cal.zone).Format("20060102"), s.seq[k])
}

// nextInvalidID returns the next invalid id of a kind, from the X range.
func (s *Simulator) nextInvalidID(k kind) string {
	s.xseq[k]++
	return fmt.Sprintf("X%s%09d", s.kinds[k].prefix, s.xseq[k])
}

// ensureLoaded performs the initial load once: every market entity,
// household and store of the district, one version each, all stamped with
// the same updated_at.
func (s *Simulator) ensureLoaded() {
	if s.loaded {
		return
	}
	s.loaded = true
	if s.clock == 0 {
		s.advanceClock(s.cfg.Now())
	}
	ts := s.stamp(0)
	s.makeRosters(ts)
	for gi, g := range s.district.grids {
		for i := 0; i < g.entities; i++ {
			s.newEntity(gi, ts)
		}
	}
	for gi, g := range s.district.grids {
		for i, room := range g.rooms {
			s.newHousehold(gi, i, room, ts)
		}
	}
	for gi, g := range s.district.grids {
		for i := 0; i < g.stores; i++ {
			s.newStore(gi, i, ts)
		}
	}
	s.residentVolunteers()
	s.emitRosters(ts)
	s.schedulePlants(ts)
}

// residentVolunteers makes half of each street's volunteers heads of its
// households: the same person in the grid ledger, on the roster and on the
// work-record cards, by resident ID number.
func (s *Simulator) residentVolunteers() {
	for si, st := range s.district.streets {
		var heads []string
		for _, h := range s.households {
			if h.HeadIDNumber != nil && strings.HasPrefix(h.GridCode, st.Code) {
				heads = append(heads, *h.HeadIDNumber)
			}
		}
		if len(heads) == 0 {
			continue
		}
		for _, m := range s.members {
			if m.teamType == "volunteer" && len(m.grids) > 0 && s.district.grids[m.grids[0]].street == si && s.rng.IntN(2) == 0 {
				m.idNumber = oneOf(s.rng, heads)
			}
		}
	}
}

// invalidReason decides whether a new record of kind k is invalid and how.
func (s *Simulator) invalidReason(k kind) string {
	if s.cfg.InvalidShare <= 0 || s.rng.Float64() >= s.cfg.InvalidShare {
		return ""
	}
	reasons := []string{InvalidGridCode, InvalidEnum, InvalidTimestamp, InvalidMissingField}
	if s.kinds[k].usci {
		reasons = append(reasons, InvalidUSCIChecksum)
	}
	return oneOf(s.rng, reasons)
}

// pickKind chooses the type of a new stream record at t. Door visits happen
// between 07:00 and 21:00, inspections in office hours of working days;
// police incidents dominate the night.
func (s *Simulator) pickKind(t time.Time) kind {
	lt := t.In(s.cal.zone)
	mins := lt.Hour()*60 + lt.Minute()
	day := mins >= 7*60 && mins < 21*60
	office := s.cal.Kind(t) == Workday && mins >= 8*60+30 && mins < 17*60+30
	cs := []choice[kind]{{kGridEvent, 30}, {kWorkOrder, 20}, {kPoliceIncident, 10}, {kTeamRecord, 5}}
	if day {
		cs = append(cs, choice[kind]{kDoorVisit, 25}, choice[kind]{kTeamRecord, 12})
	} else {
		cs = append(cs, choice[kind]{kPoliceIncident, 25 * policeNight(lt.Month())})
	}
	if office && len(s.entities) > 0 {
		cs = append(cs, choice[kind]{kMarketInspection, 5})
	}
	return weighted(s.rng, cs)
}

// newRecord creates one new stream record of kind k.
func (s *Simulator) newRecord(k kind) {
	switch k {
	case kDoorVisit:
		s.newDoorVisit()
	case kPoliceIncident:
		s.newPoliceIncident()
	case kWorkOrder:
		s.newWorkOrder()
	case kMarketInspection:
		s.newInspection()
	case kTeamRecord:
		s.newTeamRecord()
	default:
		s.newGridEvent()
	}
}

// ledgerUpdate writes a new version of a random household, store or market
// entity; with no ledger records it creates a stream record instead.
func (s *Simulator) ledgerUpdate() {
	cs := []choice[kind]{}
	if len(s.households) > 0 {
		cs = append(cs, choice[kind]{kHousehold, 55})
	}
	if len(s.stores) > 0 {
		cs = append(cs, choice[kind]{kStore, 35})
	}
	if len(s.entities) > 0 {
		cs = append(cs, choice[kind]{kMarketEntity, 10})
	}
	if len(s.members) > 0 {
		cs = append(cs, choice[kind]{kTeamMember, 2})
	}
	if len(cs) == 0 {
		s.newGridEvent()
		return
	}
	switch weighted(s.rng, cs) {
	case kHousehold:
		s.updateHousehold(s.rng.IntN(len(s.households)), 0)
	case kStore:
		s.updateStore(s.rng.IntN(len(s.stores)), 0)
	case kTeamMember:
		s.rosterChange()
	default:
		s.updateEntity(s.rng.IntN(len(s.entities)), "")
	}
}

// --- lifecycle queue -------------------------------------------------------

// pending is an open record waiting for its next lifecycle step.
type pending struct {
	due int64  // Unix µs
	seq uint64 // tie-break, for determinism
	ev  *gridEvent
	wo  *workOrder
	pi  *policeIncident
	g   *grid         // where the case is, for the places' differences
	cat eventCategory // a grid event's category
	// next names a grid event's step decided in advance (rework,
	// handled on the spot, closed at once by a handler planted so).
	next string
	// plant is the planted anomaly the case belongs to, if any; repeat
	// makes the step the next report of a repeated problem.
	plant  *Plant
	repeat bool
	// visit makes the step a planted visit to the store of that index.
	visit int
}

// pendingQueue is a min-heap by (due, seq).
type pendingQueue []*pending

func (q pendingQueue) Len() int { return len(q) }
func (q pendingQueue) Less(i, j int) bool {
	if q[i].due != q[j].due {
		return q[i].due < q[j].due
	}
	return q[i].seq < q[j].seq
}
func (q pendingQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }

// Push implements heap.Interface.
func (q *pendingQueue) Push(x any) { *q = append(*q, x.(*pending)) }

// Pop implements heap.Interface.
func (q *pendingQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return p
}

// advance performs the next lifecycle step of p.
func (s *Simulator) advance(p *pending) {
	switch {
	case p.repeat:
		s.repeatEvent(p.plant, p.g)
	case p.plant != nil && p.plant.Kind == PlantCancelledVisited:
		s.visitCancelled(p.plant, p.visit)
	case p.ev != nil:
		s.advanceEvent(p)
	case p.wo != nil:
		s.advanceOrder(p)
	case p.pi != nil:
		s.advanceIncident(p)
	}
}
