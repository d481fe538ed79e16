// Package queries is the catalog of indicator queries and the runner that
// computes them at every level of the area hierarchy.
//
// # Query files
//
// An indicator is one file, indicators/<name>.sql: a block comment whose
// body is a YAML header, then one SELECT statement.
//
//	/*
//	name: event_ontime_closure_rate
//	title: {zh: 事件按期办结率, en: On-time closure rate of grid events}
//	kind: indicator
//	schedule: {normal: "30 1 * * *", emergency: "0-59/5 * * * *"}
//	grain: [grid, community, street, county, district, gov_unit]
//	period: month
//	unit: percent
//	direction: higher_is_better
//	thresholds: {normal: {warn: 80, alert: 70}}
//	min_denominator: 5
//	inputs: [grid_events]
//	definition: {zh: ..., en: ..., source: "DOMAIN.md §9, indicator 1"}
//	*/
//	SELECT grid_code AS area_code, CAST($period_start AS TIMESTAMPTZ) AS period_start, ...
//
// The fields: name (the file name), title, kind (indicator; rules come
// later), schedule per mode (five-field cron in Asia/Shanghai; emergency
// falls back to normal; an emergency_only query has only emergency), grain
// (the levels published: grid, community, street, county, district — the
// whole deployment — and gov_unit, the responsibility hierarchy), period
// (day, week, month, quarter, half_year, year), unit (percent, count,
// hours, per_10k), direction (higher_is_better, lower_is_better), optional
// thresholds per mode ({warn, alert}, ordered by direction), optional
// min_denominator (default 5; 0 publishes every cell), definition (zh, en
// and its policy source), optional emergency_only, and inputs: every table
// the SQL reads (record tables and areas, gov_units, grids, calendar),
// checked against the SQL's words both ways. The header must not contain
// "*/" (it would end the SQL comment): write a cron step as 0-59/5, not
// */5. Unknown keys, repeated keys, wrong types and missing fields are
// errors; Load reports every problem of every file at once as
// file:line:col: field: what is wrong; what to change.
//
// # The query contract
//
// The runner binds three named parameters, all TIMESTAMPTZ: $period_start
// and $period_end, the half-open period [start, end) of Asia/Shanghai, and
// $as_of, the earlier of period_end and the run's now — a query counts
// what has happened by $as_of, so a period still running gives provisional
// values. The query returns (area_code VARCHAR, period_start TIMESTAMPTZ,
// numerator DOUBLE, denominator DOUBLE) at the finest level it can
// (usually the grid), with period_start = $period_start; the runner
// computes the value. Check binds every query against DuckDB (DESCRIBE,
// nothing runs) and reports DuckDB's errors at the file's line.
//
// DuckDB's session time zone is the server's and cannot be set once the
// store is open, so a query never casts an instant to a date or adds days
// to it implicitly: it compares instants with the parameters, and reads a
// wall clock with timezone('Asia/Shanghai', ts). The query tests run under
// several server zones to hold this.
//
// # Runner
//
// Run computes the periods of a range, sums numerators and denominators up
// the areas tree and the gov_units tree (never averaging rates), suppresses
// cells whose denominator is under min_denominator, and writes
// indicator_values (see Migrate): every cell of every level in the grain,
// per period, with the run id, the computation time, the inputs' freshness
// and a version. A cell computed before its period ended is provisional
// and replaced in place by later runs; a final cell is never changed: a
// later run that computes a different final value writes it as a new
// version (a restatement), and one that computes the same value writes
// nothing. The key is (name, level, area_code, period_start, version):
// level is part of it because gov unit ids and area codes are separate
// name spaces. inputs_fresh_at is the newest event time of the stalest
// record table among the inputs: every input is known up to then.
//
// # What leaves the server
//
// Suppressed cells keep their numerator and denominator in
// indicator_values, for audit and for sums; the view indicator_values_public
// — the latest version of each cell, with a provisional flag — withholds
// them, and is what the API should serve to every role but admin.
// Suppression is per cell: differencing a street against its published
// communities can still reveal a suppressed community, which secondary
// suppression (not done yet) would prevent.
//
// # Tests
//
// Each query has indicators/<name>_test.yaml with small input tables and
// hand-computed expected cells; TestFiles runs them on a scratch DuckDB, for
// go test and for yiwang test queries alike.
//
// The package exports no metrics; the scheduler counts runs and failures.
package queries
