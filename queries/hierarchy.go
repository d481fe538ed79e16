package queries

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// cell is one published place of an indicator: an area at a level, the
// district, or a gov unit.
type cell struct {
	level Level
	code  string
}

// hierarchy is the areas code tree and the responsibility tree as the
// runner rolls values up them.
type hierarchy struct {
	level  map[string]Level  // area code → level, for the levels that publish
	parent map[string]string // area code → parent code ("" at the top)
	known  map[string]bool   // every area code
	// direct lists, per area code, the gov units that cover it: the unit
	// naming it as area_code and all units above that one.
	direct map[string][]string
	units  []string // every gov unit id, sorted
	memo   map[string][]cell
}

// loadHierarchy reads the areas and gov_units tables.
func loadHierarchy(ctx context.Context, db *sql.DB) (*hierarchy, error) {
	h := &hierarchy{level: map[string]Level{}, parent: map[string]string{}, known: map[string]bool{},
		direct: map[string][]string{}, memo: map[string][]cell{}}
	rows, err := db.QueryContext(ctx, "SELECT code, level, coalesce(parent_code, '') FROM areas ORDER BY code")
	if err != nil {
		return nil, fmt.Errorf("read areas: %w", err)
	}
	for rows.Next() {
		var code, level, parent string
		if err := rows.Scan(&code, &level, &parent); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("read areas: %w", err)
		}
		h.known[code] = true
		h.parent[code] = parent
		switch l := Level(level); l {
		case LevelGrid, LevelCommunity, LevelStreet, LevelCounty:
			h.level[code] = l
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("read areas: %w", err)
	}
	for code := range h.parent {
		if _, err := h.ancestors(code); err != nil {
			return nil, err
		}
	}
	rows, err = db.QueryContext(ctx, "SELECT unit_id, coalesce(parent_id, ''), coalesce(area_code, '') FROM gov_units ORDER BY unit_id")
	if err != nil {
		return nil, fmt.Errorf("read gov_units: %w", err)
	}
	unitParent := map[string]string{}
	unitArea := map[string]string{}
	for rows.Next() {
		var id, parent, area string
		if err := rows.Scan(&id, &parent, &area); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("read gov_units: %w", err)
		}
		unitParent[id] = parent
		unitArea[id] = area
		h.units = append(h.units, id)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("read gov_units: %w", err)
	}
	for _, id := range h.units {
		area := unitArea[id]
		if area == "" {
			continue
		}
		for u, n := id, 0; u != ""; u, n = unitParent[u], n+1 {
			if n > len(h.units) {
				return nil, fmt.Errorf("gov_units: the parent_id chain of %s runs in a circle; fix the reference file", id)
			}
			if _, ok := unitParent[u]; !ok {
				break // a parent that is not a unit: the chain ends
			}
			if !slices.Contains(h.direct[area], u) {
				h.direct[area] = append(h.direct[area], u)
			}
		}
	}
	return h, nil
}

func closeRows(rows *sql.Rows) error {
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return err
	}
	return rows.Close()
}

// ancestors returns code and the codes above it, nearest first.
func (h *hierarchy) ancestors(code string) ([]string, error) {
	var out []string
	for c := code; c != "" && h.known[c]; c = h.parent[c] {
		if len(out) > len(h.parent) {
			return nil, fmt.Errorf("areas: the parent_code chain of %s runs in a circle; fix the reference file", code)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		out = []string{code} // not an area: only gov units naming it see it
	}
	return out, nil
}

// cellsOf returns the cells a row of the query at code adds to: the area
// and the areas above it at the publishing levels, the district, and every
// gov unit covering any of them, each once.
func (h *hierarchy) cellsOf(code string) []cell {
	if cs, ok := h.memo[code]; ok {
		return cs
	}
	anc, _ := h.ancestors(code) // cycles were refused at load
	cs := []cell{{LevelDistrict, DistrictCode}}
	var units []string
	for _, a := range anc {
		if l, ok := h.level[a]; ok {
			cs = append(cs, cell{l, a})
		}
		for _, u := range h.direct[a] {
			if !slices.Contains(units, u) {
				units = append(units, u)
			}
		}
	}
	for _, u := range units {
		cs = append(cs, cell{LevelGovUnit, u})
	}
	h.memo[code] = cs
	return cs
}

// cells returns every cell of the levels in grain, in a fixed order.
func (h *hierarchy) cells(grain []Level) []cell {
	var out []cell
	for _, l := range levels {
		if !slices.Contains(grain, l) {
			continue
		}
		switch l {
		case LevelDistrict:
			out = append(out, cell{l, DistrictCode})
		case LevelGovUnit:
			for _, u := range h.units {
				out = append(out, cell{l, u})
			}
		default:
			var codes []string
			for c, cl := range h.level {
				if cl == l {
					codes = append(codes, c)
				}
			}
			slices.Sort(codes)
			for _, c := range codes {
				out = append(out, cell{l, c})
			}
		}
	}
	return out
}
