package simulate

import (
	"cmp"
	"math"
	"slices"
	"sort"
)

// rec is the current version of one record a source system holds.
type rec struct {
	ver    uint32 // 1 for the first version
	ts     int64  // updated_at, Unix microseconds
	at     body   // the record as served, in the table's body file
	reason string // invalid-record label; empty for a valid record
}

// entry is one (updated_at, id) position of the change log. It is live while
// its version is the record's current one; superseded entries are skipped and
// compacted away.
type entry struct {
	ts  int64
	id  string
	ver uint32
}

// table is the store of one record type: the current version of every record
// by id, and an append-only change log ordered by (updated_at, id).
//
// Writes arrive with non-decreasing timestamps, so the log is sorted except
// for its tail, the entries sharing the latest timestamp, which are sorted by
// id lazily: before a read and before a later timestamp is appended.
type table struct {
	name      string
	recs      map[string]*rec
	log       []entry
	tailStart int  // first entry with the latest timestamp
	tailDirty bool // the tail may be out of id order
	dead      int  // superseded entries still in the log
	valid     int
	invalid   int
	versions  int
	bodies    bodies
}

// newTable returns an empty table whose record bodies go to a file in dir
// (the system's temporary directory when empty).
func newTable(name, dir string) *table {
	return &table{name: name, recs: map[string]*rec{}, bodies: bodies{dir: dir}}
}

// put stores a new version of record id at ts (never less than the previous
// write's). A new record is valid when reason is empty. It fails only when
// the body file cannot be written; nothing is stored then.
func (t *table) put(id string, ts int64, raw []byte, reason string) error {
	at, err := t.bodies.add(raw)
	if err != nil {
		return err
	}
	r, ok := t.recs[id]
	if ok {
		r.ver++
		r.ts = ts
		t.bodies.superseded(r.at)
		r.at = at
		t.dead++
	} else {
		r = &rec{ver: 1, ts: ts, at: at, reason: reason}
		t.recs[id] = r
		if reason == "" {
			t.valid++
		} else {
			t.invalid++
		}
	}
	t.versions++
	if n := len(t.log); n == 0 || ts > t.log[n-1].ts {
		t.sortTail()
		t.tailStart = n
	} else if id < t.log[n-1].id {
		t.tailDirty = true
	}
	t.log = append(t.log, entry{ts: ts, id: id, ver: r.ver})
	if t.dead > 4096 && t.dead > len(t.log)/2 {
		t.compact()
	}
	if t.bodies.needsCompaction() {
		live := make([]*body, 0, len(t.recs))
		for _, r := range t.recs {
			live = append(live, &r.at)
		}
		return t.bodies.rewrite(live)
	}
	return nil
}

// raw reads a record's bytes back.
func (t *table) raw(r *rec) ([]byte, error) { return t.bodies.get(r.at) }

// sortTail restores the id order of the entries sharing the latest timestamp.
func (t *table) sortTail() {
	if !t.tailDirty {
		return
	}
	slices.SortStableFunc(t.log[t.tailStart:], func(a, b entry) int {
		return cmp.Compare(a.id, b.id)
	})
	t.tailDirty = false
}

// compact drops superseded entries, keeping the order.
func (t *table) compact() {
	t.sortTail()
	live := t.log[:0]
	for _, e := range t.log {
		if t.recs[e.id].ver == e.ver {
			live = append(live, e)
		}
	}
	clear(t.log[len(live):])
	t.log = live
	t.dead = 0
	t.tailStart = 0
	if n := len(t.log); n > 0 {
		last := t.log[n-1].ts
		t.tailStart = sort.Search(n, func(i int) bool { return t.log[i].ts >= last })
	}
}

// cursor is a position in (updated_at, id) order. Records strictly after it
// are returned. allAtTS makes every id at ts count as passed, which is how an
// updated_since with sub-microsecond digits compares.
type cursor struct {
	ts      int64
	id      string
	allAtTS bool
}

// start returns the cursor before every record.
func start() cursor { return cursor{ts: math.MinInt64, allAtTS: true} }

func (c cursor) before(e entry) bool {
	if e.ts != c.ts {
		return e.ts > c.ts
	}
	return !c.allAtTS && e.id > c.id
}

// page returns the current versions of at most limit records after c in
// (updated_at, id) order, whether more follow, and the updated_at of the last
// one returned.
func (t *table) page(c cursor, limit int) (raws [][]byte, more bool, lastTS int64, err error) {
	t.sortTail()
	i := sort.Search(len(t.log), func(i int) bool { return c.before(t.log[i]) })
	for ; i < len(t.log); i++ {
		e := t.log[i]
		r := t.recs[e.id]
		if r.ver != e.ver {
			continue
		}
		if len(raws) == limit {
			return raws, true, lastTS, nil
		}
		raw, err := t.raw(r)
		if err != nil {
			return nil, false, 0, err
		}
		raws = append(raws, raw)
		lastTS = e.ts
	}
	return raws, false, lastTS, nil
}

// change is the current version of one record as a publisher reads it.
type change struct {
	id     string
	ts     int64  // updated_at, Unix microseconds
	raw    []byte // never modified once stored
	reason string // invalid-record label; empty for a valid record
}

// changes returns the current versions of at most limit records after c in
// (updated_at, id) order, as page does, with their ids and labels.
func (t *table) changes(c cursor, limit int) ([]change, error) {
	t.sortTail()
	i := sort.Search(len(t.log), func(i int) bool { return c.before(t.log[i]) })
	var out []change
	for ; i < len(t.log) && len(out) < limit; i++ {
		e := t.log[i]
		r := t.recs[e.id]
		if r.ver != e.ver {
			continue
		}
		raw, err := t.raw(r)
		if err != nil {
			return nil, err
		}
		out = append(out, change{id: e.id, ts: e.ts, raw: raw, reason: r.reason})
	}
	return out, nil
}
