package queries

import (
	"fmt"
	"time"
)

// The five forces (五支队伍) as the API lists them. A team belongs where
// its area code says, or, formed above the streets, to its responsibility
// unit; the scope bounds both.

// TeamsQuery returns the query of the teams within scope (of teamType,
// "" for every type), each with its active members and how many of them
// have a work-record card from start to end (the activity the volunteer
// and cadre activity rates count), in team order after the team id after
// ("" for the first page).
func TeamsQuery(teamType string, start, end time.Time, after string, scope Scope) (string, []any) {
	args := []any{start, end}
	in, sargs := scope.CondAt("coalesce(t.area_code, t.gov_unit_id)", len(args)+1)
	args = append(args, sargs...)
	q := `SELECT t.team_id, t.team_type, t.name, t.level, t.gov_unit_id, t.area_code, t.status,
  (SELECT count(*) FROM team_members m WHERE m.team_id = t.team_id AND m.status = 'active') AS members,
  (SELECT count(DISTINCT r.member_id_number_key) FROM team_records r
     WHERE r.team_id = t.team_id AND r.work_date >= CAST($1 AS DATE) AND r.work_date < CAST($2 AS DATE)) AS active_members
FROM teams t WHERE ` + in
	if teamType != "" {
		args = append(args, teamType)
		q += fmt.Sprintf(" AND t.team_type = $%d", len(args))
	}
	if after != "" {
		args = append(args, after)
		q += fmt.Sprintf(" AND t.team_id > $%d", len(args))
	}
	return q + " ORDER BY t.team_id", args
}

// MembersQuery returns the query of a team's roster within scope: each
// membership with the member's pseudonym (never the ID number), role,
// party membership, dates and status, in membership order after after.
func MembersQuery(team, after string, scope Scope) (string, []any) {
	args := []any{team}
	in, sargs := scope.CondAt("coalesce(m.area_code, m.gov_unit_id)", len(args)+1)
	args = append(args, sargs...)
	q := `SELECT m.membership_id, m.team_id, m.team_type, m.gov_unit_id, m.area_code, m.member_id_number_key AS member,
  m.role, m.party_member, m.joined_on, m.left_on, m.status
FROM team_members m WHERE m.team_id = $1 AND ` + in
	if after != "" {
		args = append(args, after)
		q += fmt.Sprintf(" AND m.membership_id > $%d", len(args))
	}
	return q + " ORDER BY m.membership_id", args
}
