package queries

import (
	"fmt"
	"time"
)

// ArchiveSQL is the emergency archive (急时档案) as a list: for every
// emergency (a grid event of class 08: fire, natural disaster, public
// health) reported from $1 to $2 in an area ($3, a code prefix; "" for all),
// who turned out (the member's pseudonym, never the ID number), in which
// team, where (the area the card names), on which day and for how long,
// from the work-record cards of emergency duty that name it. An emergency
// nobody turned out for is listed once with no member. Rejected and merged
// events are left out. Ordered by the event's report time, then the event
// and the card: the key of the cursor that pages it.
const ArchiveSQL = `SELECT e.reported_at, e.event_id, e.category_major, e.category_minor, e.grid_code, e.status,
       r.record_id, r.team_type, r.team_id, r.member_id_number_key AS member, r.area_code, r.work_date, r.hours
FROM grid_events e
LEFT JOIN team_records r ON r.event_id = e.event_id AND r.task_type = 'emergency_duty'
WHERE e.category_major = '08'
  AND e.status NOT IN ('rejected', 'merged')
  AND e.reported_at >= $1 AND e.reported_at < $2
  AND starts_with(e.grid_code, $3)`

// ArchiveQuery returns ArchiveSQL for the events reported from from to to
// under area and within scope, after the key (reported_at, event_id, record_id) of the last
// row of the previous page (nil for the first page), with its arguments.
func ArchiveQuery(from, to time.Time, area string, after []any, scope Scope) (string, []any) {
	args := []any{from, to, area}
	in, sargs := scope.CondAt("a.grid_code", len(args)+1)
	q := `SELECT * FROM (` + ArchiveSQL + `) a WHERE ` + in
	args = append(args, sargs...)
	if after != nil {
		n := len(args)
		q += fmt.Sprintf(` AND (a.reported_at, a.event_id, coalesce(a.record_id, '')) > (CAST($%d AS TIMESTAMPTZ), $%d, $%d)`, n+1, n+2, n+3)
		args = append(args, after...)
	}
	return q + ` ORDER BY a.reported_at, a.event_id, coalesce(a.record_id, '')`, args
}

// ArchiveKey is the cursor key of an ArchiveSQL row as the API sends it.
func ArchiveKey(row []any) []any {
	rec := row[6]
	if rec == nil {
		rec = ""
	}
	return []any{row[0], row[1], rec}
}
