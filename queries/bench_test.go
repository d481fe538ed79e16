package queries

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"

	"github.com/yiwang-gov/yiwang/internal/store"
)

// BenchmarkRunYearDaily computes a daily indicator over a year of events on
// a district-sized hierarchy (8 streets, 80 communities, 720 grids, 90 gov
// units): one Run of 365 periods, the first time and again unchanged.
func BenchmarkRunYearDaily(b *testing.B) {
	ctx := context.Background()
	reg := registry(b)
	st, err := scratchStore(ctx, b.TempDir(), reg)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	areas := []store.Area{{Code: "220173", Name: "c", Level: "county"}}
	units := []store.GovUnit{{UnitID: "root", UnitType: "new_area", Name: "r"}}
	var grids []string
	for s := 1; s <= 8; s++ {
		street := fmt.Sprintf("220173%03d", s)
		areas = append(areas, store.Area{Code: street, Name: street, Level: "street", ParentCode: "220173"})
		units = append(units, store.GovUnit{UnitID: "st-" + street, UnitType: "street", ParentID: "root", AreaCode: street, Name: street})
		for c := 1; c <= 10; c++ {
			comm := fmt.Sprintf("%s%03d", street, c)
			areas = append(areas, store.Area{Code: comm, Name: comm, Level: "community", ParentCode: street})
			units = append(units, store.GovUnit{UnitID: "cm-" + comm, UnitType: "community", ParentID: "st-" + street, AreaCode: comm, Name: comm})
			for g := 1; g <= 9; g++ {
				grid := fmt.Sprintf("%s%03d", comm, g)
				areas = append(areas, store.Area{Code: grid, Name: grid, Level: "grid", ParentCode: comm})
				grids = append(grids, grid)
			}
		}
	}
	if err := st.ReplaceReference(ctx, areas, units); err != nil {
		b.Fatal(err)
	}
	const events = 200000
	if _, err := st.DB().ExecContext(ctx, fmt.Sprintf(`INSERT INTO grid_events (event_id, source, category_major, urgency, grid_code, status, reported_at, updated_at, deadline_at, closed_at)
SELECT 'E' || i, 'resident', '01', 'normal', '220173' || lpad(CAST(1 + i %% 8 AS VARCHAR), 3, '0') || lpad(CAST(1 + i %% 10 AS VARCHAR), 3, '0') || lpad(CAST(1 + i %% 9 AS VARCHAR), 3, '0'),
  CASE WHEN i %% 5 = 0 THEN 'dispatched' ELSE 'closed' END,
  TIMESTAMPTZ '2025-01-01 00:00:00+08' + to_seconds(i * 157), TIMESTAMPTZ '2025-01-01 00:00:00+08' + to_seconds(i * 157),
  TIMESTAMPTZ '2025-01-03 00:00:00+08' + to_seconds(i * 157),
  CASE WHEN i %% 5 = 0 THEN NULL ELSE TIMESTAMPTZ '2025-01-02 00:00:00+08' + to_seconds(i * 157) END
FROM range(%d) t(i)`, events)); err != nil {
		b.Fatal(err)
	}
	c, err := LoadEmbedded(reg)
	if err != nil {
		b.Fatal(err)
	}
	q, _ := c.Get("overdue_open_events")
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, calendar.Zone)
	for i := 0; b.Loop(); i++ {
		if _, err := st.DB().ExecContext(ctx, "DELETE FROM indicator_values"); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := Run(ctx, st.DB(), q, from, from.AddDate(1, 0, 0), "bench", from.AddDate(1, 0, 1))
		if err != nil {
			b.Fatal(err)
		}
		first := time.Since(start)
		start = time.Now()
		again, err := Run(ctx, st.DB(), q, from, from.AddDate(1, 0, 0), "bench-2", from.AddDate(1, 0, 2))
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			b.Logf("%d periods, %d cells inserted in %s; recomputed unchanged (%d) in %s", res.Periods, res.Inserted, first, again.Unchanged, time.Since(start))
		}
	}
}
