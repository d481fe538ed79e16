package queries

import (
	"strings"
	"time"
)

// The read models of the tables this package owns: the SQL that the API
// streams for GET /api/v1/indicators and GET /api/v1/modes. The API
// checks the parameters and pages the answer; the columns and the joins
// are this package's, as the tables are.

// IndicatorColumns are the columns of an indicator cell as the API
// answers it, in order.
var IndicatorColumns = []string{"name", "level", "area_code", "area_name", "period_start", "period_end",
	"numerator", "denominator", "value", "suppressed", "provisional", "mode", "status", "warn", "alert",
	"inputs_fresh_at", "run_id", "version", "note"}

// IndicatorFilter selects indicator cells; zero fields select everything.
type IndicatorFilter struct {
	Name, Area, Level, Status string // Area: the area and everything under it
	// Names selects several indicators (with Name, one more).
	Names []string
	// OnlyArea leaves out the places under Area.
	OnlyArea bool
	// Mode selects the cells of the areas in that mode (normal or
	// emergency).
	Mode string
	// EndAfter and StartBefore bound the periods: cells whose period ends
	// after EndAfter and starts before StartBefore.
	EndAfter, StartBefore time.Time
	// After is the key (name, period_start, level, area_code) of the last
	// cell of the page before.
	After []any
	// Scope bounds the cells to what the reader may see; the zero Scope
	// sees none.
	Scope Scope
}

// IndicatorQuery returns the query of the cells f selects, in key order
// (name, period_start, level, area_code), each judged by the thresholds of
// its area's mode (indicator_status).
func IndicatorQuery(f IndicatorFilter) (string, []any) {
	where, args := []string{"true"}, []any{}
	add := func(cond string, a ...any) { where, args = append(where, cond), append(args, a...) }
	names := f.Names
	if f.Name != "" {
		names = append([]string{f.Name}, names...)
	}
	if len(names) > 0 {
		in := strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ")
		a := make([]any, len(names))
		for i, n := range names {
			a[i] = n
		}
		add("v.name IN ("+in+")", a...)
	}
	switch {
	case f.Area != "" && f.OnlyArea:
		add("v.area_code = ?", f.Area)
	case f.Area != "":
		add("(v.area_code = ? OR (length(v.area_code) > length(?) AND starts_with(v.area_code, ?)))", f.Area, f.Area, f.Area)
	}
	if f.Mode != "" {
		add("v.mode = ?", f.Mode)
	}
	if f.Level != "" {
		add("v.level = ?", f.Level)
	}
	cond, cargs := f.Scope.Cond("v.area_code")
	add(cond, cargs...)
	if !f.EndAfter.IsZero() {
		add("v.period_end > ?", f.EndAfter)
	}
	if !f.StartBefore.IsZero() {
		add("v.period_start < ?", f.StartBefore)
	}
	if f.Status != "" {
		add("v.status = ?", f.Status)
	}
	if f.After != nil {
		add("(v.name, v.period_start, v.level, v.area_code) > (?, CAST(? AS TIMESTAMPTZ), ?, ?)", f.After...)
	}
	return `SELECT v.name, v.level, v.area_code, coalesce(a.name, g.name) AS area_name, v.period_start, v.period_end,
  v.numerator, v.denominator, v.value, v.suppressed, v.provisional, v.mode, v.status, v.warn, v.alert,
  v.inputs_fresh_at, v.run_id, v.version,
  CASE WHEN n.name IS NOT NULL THEN 'needs data from ' || strftime(timezone('Asia/Shanghai', n.needs_from), '%Y-%m-%d') ||
    coalesce('; the tables hold data from ' || strftime(timezone('Asia/Shanghai', n.data_from), '%Y-%m-%d'), '; the tables hold no data') END AS note
FROM indicator_status v
LEFT JOIN areas a ON a.code = v.area_code AND v.level <> 'gov_unit'
LEFT JOIN gov_units g ON g.unit_id = v.area_code AND v.level = 'gov_unit'
LEFT JOIN indicator_notes n ON n.name = v.name AND n.period_start = v.period_start
WHERE ` + strings.Join(where, " AND ") + ` ORDER BY v.name, v.period_start, v.level, v.area_code`, args
}

// IndicatorKey returns the paging key of a row of IndicatorQuery.
func IndicatorKey(row []any) []any { return []any{row[0], row[4], row[1], row[2]} }

// ModesQuery returns the query of the areas' current modes, each with its
// ten latest changes, in area order after the area code after ("" for the
// first page), within scope.
func ModesQuery(after string, scope Scope) (string, []any) {
	where, args := scope.Cond("m.area_code")
	where = "WHERE " + where
	if after != "" {
		where, args = where+" AND m.area_code > ?", append(args, after)
	}
	return `SELECT m.area_code, a.name, a.level, m.mode, m.changed_at, m.reason,
  (SELECT list({'mode': h.mode, 'changed_at': h.changed_at, 'reason': h.reason} ORDER BY h.changed_at DESC)[1:10]
     FROM area_mode_changes h WHERE h.area_code = m.area_code) AS recent_changes
FROM area_modes m LEFT JOIN areas a ON a.code = m.area_code ` + where + ` ORDER BY m.area_code`, args
}

// AreasQuery returns the query of the areas within scope (code, name,
// level, parent_code), in code order: the area tree as parent links.
func AreasQuery(scope Scope) (string, []any) {
	cond, args := scope.Cond("a.code")
	return `SELECT a.code, a.name, a.level, a.parent_code FROM areas a WHERE ` + cond + ` ORDER BY a.code`, args
}

// UnitsQuery returns the query of the responsibility (包保) units within
// scope (unit_id, name, unit_type, parent_id, area_code), in id order: the
// responsibility tree as parent links.
func UnitsQuery(scope Scope) (string, []any) {
	cond, args := scope.Cond("u.unit_id")
	return `SELECT u.unit_id, u.name, u.unit_type, u.parent_id, u.area_code FROM gov_units u WHERE ` + cond + ` ORDER BY u.unit_id`, args
}
