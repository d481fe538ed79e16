package queries

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/yiwang-gov/yiwang/internal/metrics"
)

// ModeChange is one switch of an area's mode, as the modes topic carries it and
// ApplyMode records it.
type ModeChange struct {
	Area   string    `json:"area"`
	Mode   string    `json:"mode"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// CheckMode refuses a mode that is not normal or emergency and an area
// that is not in the areas table.
func CheckMode(ctx context.Context, db *sql.DB, area string, mode Mode) error {
	if mode != Normal && mode != Emergency {
		return fmt.Errorf("mode must be normal or emergency, got %q", mode)
	}
	var level string
	if err := db.QueryRowContext(ctx, "SELECT level FROM areas WHERE code = ?", area).Scan(&level); errors.Is(err, sql.ErrNoRows) {
		return NoAreaError(area)
	} else if err != nil {
		return fmt.Errorf("read area %q: %w", area, err)
	}
	return nil
}

// NoAreaError is the error of a mode switch of an area that does not
// exist, or that the reader may not see: the same words for both.
func NoAreaError(area string) error {
	return fmt.Errorf("area %q is not in the areas table", area)
}

// ApplyMode switches c.Area to c.Mode and records the change, in tx.
func ApplyMode(ctx context.Context, tx *sql.Tx, c ModeChange) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO area_modes VALUES (?, ?, ?, ?)
ON CONFLICT (area_code) DO UPDATE SET mode = excluded.mode, changed_at = excluded.changed_at, reason = excluded.reason`,
		c.Area, c.Mode, c.At, c.Reason); err != nil {
		return fmt.Errorf("set mode of %s: %w", c.Area, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO area_mode_changes VALUES (?, ?, ?, ?)", c.Area, c.Mode, c.At, c.Reason); err != nil {
		return fmt.Errorf("record mode change of %s: %w", c.Area, err)
	}
	return nil
}

// ExportModes sets yiwang_area_mode from the area_modes table.
func ExportModes(ctx context.Context, db *sql.DB, m *metrics.Metrics) {
	rows, err := db.QueryContext(ctx, "SELECT area_code, mode FROM area_modes")
	if err != nil {
		return
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var area, mode string
		if rows.Scan(&area, &mode) != nil {
			return
		}
		for _, md := range []Mode{Normal, Emergency} {
			v := 0.0
			if string(md) == mode {
				v = 1
			}
			m.AreaMode.WithLabelValues(area, string(md)).Set(v)
		}
	}
}

// EmergencyAreas counts the areas in emergency mode.
func EmergencyAreas(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM area_modes WHERE mode = 'emergency'").Scan(&n)
	return n, err
}
