package queries

import (
	"fmt"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
)

// Door-knocking campaigns (敲门行动) cover every household and every "十小"
// store at least twice a year, one campaign per half-year (DOMAIN.md §9
// #9): door_knock_coverage and store_visit_coverage count who was reached;
// MissingSQL lists who was not yet, the list a community worker works
// through.

// Targets of a door-knocking campaign.
const (
	TargetHousehold = "household"
	TargetStore     = "store"
)

// CampaignOf returns the door-knocking campaign (half-year, Asia/Shanghai)
// that at falls in: its start, its end and its name, e.g. 2026H2.
func CampaignOf(at time.Time) (start, end time.Time, name string) {
	loc := calendar.Zone
	start = HalfYear.Start(at, loc)
	half := 1
	if start.Month() > 6 {
		half = 2
	}
	return start, HalfYear.Next(start), fmt.Sprintf("%dH%d", start.Year(), half)
}

// MissingSQL returns the query listing the households or stores of the
// ledger, under an area, that no valid visit (outcome met or vacant, as the
// coverage indicators count) reached from the campaign's start to as_of,
// with the latest attempt if any (not_home, refused, ...). Its parameters:
// $1 the campaign's start, $2 as_of, $3 the area code ("" for all; an area
// is the prefix of every code under it).
func MissingSQL(target string) (string, error) {
	var id, extra, table string
	switch target {
	case TargetHousehold:
		id, extra, table = "household_id", "t.room_code", "households"
	case TargetStore:
		id, extra, table = "store_id", "t.signboard, t.store_category", "stores"
	default:
		return "", fmt.Errorf("target must be %s or %s, got %q", TargetHousehold, TargetStore, target)
	}
	return fmt.Sprintf(`WITH attempts AS (
  SELECT target_id,
         bool_or(outcome IN ('met', 'vacant')) AS reached,
         max(visited_at) AS last_visit_at,
         arg_max(outcome, visited_at) AS last_outcome,
         count(*) AS attempts
  FROM door_visits
  WHERE target_type = '%s' AND visited_at >= $1 AND visited_at < $2
  GROUP BY target_id
)
SELECT t.%s AS id, t.grid_code, %s, coalesce(a.attempts, 0) AS attempts, a.last_visit_at, a.last_outcome
FROM %s t
LEFT JOIN attempts a ON a.target_id = t.%s
WHERE coalesce(a.reached, false) = false AND starts_with(t.grid_code, $3)
ORDER BY t.grid_code, t.%s`, target, id, extra, table, id, id), nil
}

// MissingQuery returns MissingSQL of target with its arguments: the
// campaign from start to asOf, the area, the reader's scope, and after, the key (grid_code,
// id) of the last row of the page before (nil for the first page).
func MissingQuery(target string, start, asOf time.Time, area string, after []any, scope Scope) (string, []any, error) {
	q, err := MissingSQL(target)
	if err != nil {
		return "", nil, err
	}
	args := []any{start, asOf, area}
	in, sargs := scope.CondAt("m.grid_code", len(args)+1)
	q = `SELECT * FROM (` + q + `) m WHERE ` + in
	args = append(args, sargs...)
	if after != nil {
		q += fmt.Sprintf(` AND (m.grid_code, m.id) > ($%d, $%d)`, len(args)+1, len(args)+2)
		args = append(args, after...)
	}
	return q + ` ORDER BY m.grid_code, m.id`, args, nil
}
