package queries

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Scope is the part of the district a reader may see, in both
// hierarchies: area codes, each with every area below it (a code extends
// its parent's), and responsibility (包保) units. The zero Scope sees
// nothing; ResolveScope makes one from a token's grants.
type Scope struct {
	// All is the whole district: every area, every unit, the district's
	// own cells.
	All bool
	// Areas are the area codes granted, each with the codes below it.
	Areas []string
	// Units are the unit ids visible: the granted units and every unit
	// below them, and the units responsible for a granted area or one
	// below it.
	Units []string
}

// Cond returns the SQL condition (and its arguments, as ? placeholders)
// that the area code or unit id in col is within the scope.
func (s Scope) Cond(col string) (string, []any) {
	return s.cond(col, func(int) string { return "?" })
}

// CondAt is Cond with numbered placeholders, from $first on, for a
// query whose other arguments are numbered.
func (s Scope) CondAt(col string, first int) (string, []any) {
	return s.cond(col, func(i int) string { return "$" + strconv.Itoa(first+i) })
}

func (s Scope) cond(col string, ph func(int) string) (string, []any) {
	if s.All {
		return "true", nil
	}
	var or []string
	var args []any
	for _, a := range s.Areas {
		or = append(or, "starts_with("+col+", "+ph(len(args))+")")
		args = append(args, a)
	}
	if len(s.Units) > 0 {
		in := make([]string, len(s.Units))
		for i, u := range s.Units {
			in[i] = ph(len(args))
			args = append(args, u)
		}
		or = append(or, col+" IN ("+strings.Join(in, ", ")+")")
	}
	if len(or) == 0 {
		return "false", nil
	}
	return "(" + strings.Join(or, " OR ") + ")", args
}

// Covers reports whether the area code or unit id is within the scope.
func (s Scope) Covers(code string) bool {
	return s.All || s.coversArea(code) || slices.Contains(s.Units, code)
}

// Key is a text that two requests share only when their scopes are the
// same, for answers shared between requests.
func (s Scope) Key() string {
	if s.All {
		return "*"
	}
	return strings.Join(s.Areas, ",") + "|" + strings.Join(s.Units, ",")
}

// ResolveScope resolves grants — area codes, unit ids, or DistrictCode —
// against the areas and gov_units tables. The district, or a unit at the
// top of the responsibility tree (the new area itself), grants All. A
// grant that is neither an area nor a unit is an error.
func ResolveScope(ctx context.Context, db *sql.DB, grants []string) (Scope, error) {
	areas := map[string]bool{}
	rows, err := db.QueryContext(ctx, "SELECT code FROM areas")
	if err != nil {
		return Scope{}, fmt.Errorf("read areas: %w", err)
	}
	for rows.Next() {
		var code string
		if err := rows.Scan(&code); err != nil {
			_ = rows.Close()
			return Scope{}, fmt.Errorf("read areas: %w", err)
		}
		areas[code] = true
	}
	if err := closeRows(rows); err != nil {
		return Scope{}, fmt.Errorf("read areas: %w", err)
	}
	type unit struct{ parent, area string }
	units := map[string]unit{}
	children := map[string][]string{}
	rows, err = db.QueryContext(ctx, "SELECT unit_id, coalesce(parent_id, ''), coalesce(area_code, '') FROM gov_units ORDER BY unit_id")
	if err != nil {
		return Scope{}, fmt.Errorf("read gov_units: %w", err)
	}
	for rows.Next() {
		var id string
		var u unit
		if err := rows.Scan(&id, &u.parent, &u.area); err != nil {
			_ = rows.Close()
			return Scope{}, fmt.Errorf("read gov_units: %w", err)
		}
		units[id] = u
		children[u.parent] = append(children[u.parent], id)
	}
	if err := closeRows(rows); err != nil {
		return Scope{}, fmt.Errorf("read gov_units: %w", err)
	}
	var s Scope
	grantedAreas, grantedUnits := map[string]bool{}, map[string]bool{}
	for _, g := range grants {
		switch u, isUnit := units[g]; {
		case g == DistrictCode || isUnit && u.parent == "":
			return Scope{All: true}, nil
		case areas[g]:
			grantedAreas[g] = true
		case isUnit:
			stack := []string{g}
			for len(stack) > 0 {
				id := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if grantedUnits[id] {
					continue
				}
				grantedUnits[id] = true
				if a := units[id].area; a != "" {
					grantedAreas[a] = true
				}
				stack = append(stack, children[id]...)
			}
		default:
			return Scope{}, fmt.Errorf("%q is neither an area code nor a responsibility unit", g)
		}
	}
	// An area granted under another granted area adds nothing.
	for a := range grantedAreas {
		covered := false
		for b := range grantedAreas {
			if b != a && strings.HasPrefix(a, b) {
				covered = true
				break
			}
		}
		if !covered {
			s.Areas = append(s.Areas, a)
		}
	}
	slices.Sort(s.Areas)
	for id, u := range units {
		if grantedUnits[id] || u.area != "" && s.coversArea(u.area) {
			s.Units = append(s.Units, id)
		}
	}
	slices.Sort(s.Units)
	return s, nil
}

func (s Scope) coversArea(code string) bool {
	for _, a := range s.Areas {
		if strings.HasPrefix(code, a) {
			return true
		}
	}
	return false
}
