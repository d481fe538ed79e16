package queries

import (
	"context"
	"database/sql"
	"fmt"
)

// thresholdsTable holds every indicator's limits per mode, as the catalog
// says; SyncThresholds rewrites it at start so that the indicator_status
// view judges cells by the query files in force.
const thresholdsTable = `CREATE TABLE IF NOT EXISTS indicator_thresholds (
  name VARCHAR NOT NULL,
  mode VARCHAR NOT NULL,
  direction VARCHAR NOT NULL,
  warn DOUBLE NOT NULL,
  alert DOUBLE NOT NULL,
  PRIMARY KEY (name, mode))`

// StatusView judges each latest cell against the thresholds of the mode
// its area is in now: an area is in emergency when it or an area above it
// is (a street switched to emergency takes its communities and grids
// along); a responsibility unit follows the area it covers; the district
// cell is in emergency only when the code "district" is. It needs the
// tables areas, gov_units and area_modes, so it is created after them.
const StatusView = `CREATE OR REPLACE VIEW indicator_status AS
WITH RECURSIVE up(code, ancestor) AS (
  SELECT code, code FROM areas
  UNION -- not ALL: a cycle in the reference data must end the recursion
  SELECT up.code, a.parent_code FROM up JOIN areas a ON a.code = up.ancestor WHERE a.parent_code IS NOT NULL
), area_mode AS (
  SELECT up.code AS area_code, bool_or(coalesce(m.mode = 'emergency', false)) AS emergency
  FROM up LEFT JOIN area_modes m ON m.area_code = up.ancestor
  GROUP BY up.code
), cell_mode AS (
  SELECT v.*, CASE
      WHEN v.level = 'gov_unit' THEN coalesce((SELECT am.emergency FROM gov_units g JOIN area_mode am ON am.area_code = g.area_code WHERE g.unit_id = v.area_code), false)
      WHEN v.level = 'district' THEN coalesce((SELECT m.mode = 'emergency' FROM area_modes m WHERE m.area_code = 'district'), false)
      ELSE coalesce((SELECT am.emergency FROM area_mode am WHERE am.area_code = v.area_code), false)
    END AS emergency
  FROM indicator_values_public v
)
SELECT c.* EXCLUDE (emergency), CASE WHEN c.emergency THEN 'emergency' ELSE 'normal' END AS mode,
       t.warn, t.alert,
       CASE
         WHEN c.value IS NULL OR t.name IS NULL THEN NULL
         WHEN t.direction = 'higher_is_better' AND c.value < t.alert THEN 'alert'
         WHEN t.direction = 'higher_is_better' AND c.value < t.warn THEN 'warn'
         WHEN t.direction = 'lower_is_better' AND c.value > t.alert THEN 'alert'
         WHEN t.direction = 'lower_is_better' AND c.value > t.warn THEN 'warn'
         ELSE 'ok'
       END AS status
FROM cell_mode c
LEFT JOIN indicator_thresholds t ON t.name = c.name AND t.mode = CASE WHEN c.emergency THEN 'emergency' ELSE 'normal' END`

// SyncThresholds replaces the indicator_thresholds table with the
// catalog's thresholds: per query and mode, emergency falling back to
// normal as Thresholds.For does.
func SyncThresholds(ctx context.Context, db *sql.DB, c *Catalog) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "DELETE FROM indicator_thresholds"); err != nil {
		return fmt.Errorf("clear indicator_thresholds: %w", err)
	}
	for _, q := range c.Queries() {
		for _, m := range []Mode{Normal, Emergency} {
			t := q.Thresholds.For(m)
			if t == nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO indicator_thresholds VALUES (?, ?, ?, ?, ?)",
				q.Name, string(m), string(q.Direction), t.Warn, t.Alert); err != nil {
				return fmt.Errorf("thresholds of %s: %w", q.Name, err)
			}
		}
	}
	return tx.Commit()
}
