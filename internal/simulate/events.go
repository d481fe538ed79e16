package simulate

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// EventGenerator makes grid events as the simulator's reporters file them —
// the same grids, categories, sources, urgencies, positions, deadlines and
// descriptions — each from its own index, without lifecycles, ledgers or
// invalid records. Load benchmarks use it: any index range can be made in
// parallel, and the same index and time give the same bytes. It is safe for
// concurrent use.
type EventGenerator struct {
	d    *District
	cal  *Calendar
	seed uint64
}

// NewEventGenerator returns a generator of events in d's grids, drawn from
// seed.
func NewEventGenerator(d *District, seed int64) *EventGenerator {
	return &EventGenerator{d: d, cal: OfficialCalendar(), seed: uint64(seed)}
}

// ID is the id of the i-th event.
func (g *EventGenerator) ID(i int) string { return fmt.Sprintf("GE%010d", i) }

// Append appends the JSON of the i-th event, reported at at, to b.
func (g *EventGenerator) Append(b []byte, i int, at time.Time) []byte {
	rng := rand.New(rand.NewPCG(g.seed, uint64(i)))
	gr := g.d.grids[rng.IntN(len(g.d.grids))]
	ev, _ := reportedEvent(rng, g.cal, gr, g.ID(i), at.UnixMicro())
	raw, err := json.Marshal(ev)
	if err != nil { // a struct of strings, numbers and pointers to them
		panic(fmt.Sprintf("simulate: encode event %d: %v", i, err))
	}
	return append(b, raw...)
}
