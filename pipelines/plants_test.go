package pipelines

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/simulate"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/queries"
	"github.com/yiwang-gov/yiwang/schemas"
)

// TestPlantedAnomaliesInTables: a district's 45-day history with every
// kind of planted anomaly, loaded through the connectors, Kafka and the
// loader; each plant of the ledger is visible in the loaded tables where
// and when the ledger says, by the signature its detector will look for.
func TestPlantedAnomaliesInTables(t *testing.T) {
	// A fixed clock: the same history and plants on every run.
	now := time.Date(2026, 11, 20, 4, 0, 0, 0, time.UTC)
	sim := simulate.New(simulate.Config{Seed: testSeed, Scale: 0.01, Token: "tok", Now: func() time.Time { return now },
		History: 45 * 24 * time.Hour, HistoryRate: 0.02, Anomalies: 1})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = sim.Run(ctx) }() // the history, then the lifecycles as they fall due
	p := startDemo(t, sim, "tok", nil)
	waitLedger(t, sim, p.server, p.broker, 150*time.Second)

	plants := sim.Plants()
	kinds := map[string]int{}
	ts := func(t time.Time) string { return "TIMESTAMPTZ '" + t.UTC().Format(time.RFC3339Nano) + "'" }
	list := func(ids []string) string { return "('" + strings.Join(ids, "','") + "')" }
	one := func(q string) float64 {
		t.Helper()
		rows := query(t, p.server, q)
		v, _ := rows[0][0].(float64)
		return v
	}
	for _, pl := range plants {
		ongoing := pl.To.After(now)
		if ongoing {
			if now.Sub(pl.From) < 2*24*time.Hour {
				continue // just begun: too little of it to judge
			}
			pl.To = now // still in force: judged on what it made so far
		}
		kinds[pl.Kind]++
		what := fmt.Sprintf("%s %s (%s–%s, magnitude %.2f)", pl.Kind, pl.Subject, pl.From.Format(time.DateTime), pl.To.Format(time.DateTime), pl.Magnitude)
		switch pl.Kind {
		case simulate.PlantIncidentSpike:
			// The community's incidents per day in the spike, against the
			// four weeks before it.
			in := one(fmt.Sprintf(`SELECT count(*) FROM police_incidents WHERE starts_with(grid_code, '%s') AND received_at >= %s AND received_at < %s`, pl.Area, ts(pl.From), ts(pl.To)))
			before := one(fmt.Sprintf(`SELECT count(*) FROM police_incidents WHERE starts_with(grid_code, '%s') AND received_at >= %s AND received_at < %s`, pl.Area, ts(pl.From.AddDate(0, 0, -28)), ts(pl.From)))
			days := pl.To.Sub(pl.From).Hours() / 24
			if in/days < 2*max(before/28, 0.5) {
				t.Errorf("%s: %.0f incidents in %.1f days against %.0f in the 28 before: no spike", what, in, days, before)
			}
		case simulate.PlantSilentCommunity:
			in := one(fmt.Sprintf(`SELECT count(*) FROM grid_events WHERE starts_with(grid_code, '%s') AND reported_at >= %s AND reported_at < %s`, pl.Area, ts(pl.From), ts(pl.To)))
			before := one(fmt.Sprintf(`SELECT count(*) FROM grid_events WHERE starts_with(grid_code, '%s') AND reported_at >= %s AND reported_at < %s`, pl.Area, ts(pl.From.AddDate(0, 0, -14)), ts(pl.From)))
			if in != 0 || before == 0 {
				t.Errorf("%s: %.0f events while silent, %.0f in the two weeks before", what, in, before)
			}
		case simulate.PlantOnTimeDrop:
			// The cases it delayed are late (closed after their deadline,
			// or still open past it), far more often than the street's others.
			late := `count(*) FILTER (WHERE deadline_at < coalesce(closed_at, now()))::DOUBLE / count(*)`
			planted := one(fmt.Sprintf(`SELECT %s FROM grid_events WHERE event_id IN %s AND deadline_at IS NOT NULL`, late, list(pl.Records)))
			others := one(fmt.Sprintf(`SELECT %s FROM grid_events WHERE starts_with(grid_code, '%s') AND reported_at >= %s AND reported_at < %s AND event_id NOT IN %s AND deadline_at IS NOT NULL`,
				late, pl.Area, ts(pl.From), ts(pl.To), list(pl.Records)))
			if planted < 0.6 || planted < others+0.3 {
				t.Errorf("%s: %.2f of its cases late against %.2f of the street's others", what, planted, others)
			}
		case simulate.PlantInstantClosures:
			n := one(fmt.Sprintf(`SELECT count(*) FROM grid_events WHERE event_id IN %s AND handler_id = '%s' AND closed_at - dispatched_at < INTERVAL 10 MINUTE`, list(pl.Records), pl.Subject))
			if n < 3 || n < float64(len(pl.Records))-1 {
				t.Errorf("%s: %.0f of its %d events closed within 10 minutes of dispatch by the handler", what, n, len(pl.Records))
			}
		case simulate.PlantRepeatBuilding:
			// Each event at the building reported after the one before it closed.
			rows := query(t, p.server, fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE reported_at > prev_closed)
FROM (SELECT reported_at, lag(closed_at) OVER (ORDER BY reported_at) AS prev_closed FROM grid_events WHERE event_id IN %s AND building_code = '%s')`, list(pl.Records), pl.Subject))
			n, after := rows[0][0].(float64), rows[0][1].(float64)
			least := 2.0
			if ongoing {
				least = 1 // the first case may still be open
			}
			if n < least || after != n-1 {
				t.Errorf("%s: %.0f events at the building, %.0f of them after the previous one closed", what, n, after)
			}
		case simulate.PlantVisitorOverload:
			n := one(fmt.Sprintf(`SELECT count(*) FROM door_visits WHERE visitor_id = '%s' AND target_type = 'household' AND visited_at >= %s AND visited_at <= %s`, pl.Subject, ts(pl.From.Add(-time.Minute)), ts(pl.To)))
			if n <= 12 {
				t.Errorf("%s: %.0f households in the hour", what, n)
			}
		case simulate.PlantCancelledVisited:
			rows := query(t, p.server, fmt.Sprintf(`SELECT e.reg_status, v.outcome FROM door_visits v JOIN stores s ON s.store_id = v.target_id
JOIN market_entities e ON e.usci = s.usci WHERE v.visit_id = '%s' AND v.target_id = '%s'`, pl.Records[1], pl.Subject))
			if len(rows) != 1 || rows[0][0] != "cancelled" || rows[0][1] != "met" {
				t.Errorf("%s: %v, want a cancelled entity's store met as operating", what, rows)
			}
		case simulate.PlantShellCluster:
			rows := query(t, p.server, fmt.Sprintf(`SELECT count(DISTINCT e.usci), count(i.inspection_id) FILTER (WHERE i.result = 'unreachable')
FROM market_entities e LEFT JOIN market_inspections i ON i.usci = e.usci WHERE e.reg_address = '%s'`, strings.ReplaceAll(pl.Subject, "'", "''")))
			entities, unreachable := rows[0][0].(float64), rows[0][1].(float64)
			if entities != pl.Magnitude || unreachable < entities/2 {
				t.Errorf("%s: %.0f entities at the address, %.0f inspections unreachable", what, entities, unreachable)
			}
		}
	}
	for _, k := range simulate.PlantKinds() {
		if kinds[k] == 0 {
			t.Errorf("no %s plant in the history (ledger: %d plants)", k, len(plants))
		}
	}
	t.Logf("checked %d plants of %d kinds", func() (n int) {
		for _, c := range kinds {
			n += c
		}
		return
	}(), len(kinds))

	// The rules and the indicators' detectors, run over the whole history
	// at the simulator's clock, flag every plant by its subject (a series
	// detector: by its area, or one in or around it) in a period it was in
	// force.
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	ctx = context.Background()
	st, err := store.Open(ctx, filepath.Join(p.dir, "yiwang.duckdb"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := queries.LoadEmbedded(reg)
	if err != nil {
		t.Fatal(err)
	}
	from := now.Add(-46 * 24 * time.Hour)
	for _, q := range cat.Queries() {
		if q.Kind != queries.KindRule && len(q.Detect) == 0 {
			continue
		}
		res, err := queries.Run(ctx, st.DB(), q, from, now, "plants", now)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-28s %d periods: %d opened, %d updated, %d resolved", q.Name, res.Periods, res.Anomalies.Opened, res.Anomalies.Updated, res.Anomalies.Resolved)
	}
	type flag struct {
		rule, subject string
		start, end    time.Time
		matched       bool
	}
	var flags []*flag
	rows, err := st.DB().QueryContext(ctx, `SELECT rule, subject, period_start, period_end FROM anomalies WHERE status = 'open' ORDER BY rule, subject, period_start`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		f := &flag{}
		if err := rows.Scan(&f.rule, &f.subject, &f.start, &f.end); err != nil {
			t.Fatal(err)
		}
		flags = append(flags, f)
	}
	_ = rows.Close()
	ruleOf := map[string]string{simulate.PlantInstantClosures: "instant_closures", simulate.PlantRepeatBuilding: "repeat_building",
		simulate.PlantVisitorOverload: "visitor_overload", simulate.PlantCancelledVisited: "cancelled_store_visited",
		simulate.PlantShellCluster: "shell_cluster", simulate.PlantSilentCommunity: "silent_community",
		simulate.PlantIncidentSpike: "police_incidents_daily.poisson", simulate.PlantOnTimeDrop: "event_ontime_closure_rate.funnel"}
	found, judged := 0, 0
	for _, pl := range plants {
		rule, ok := ruleOf[pl.Kind]
		if !ok || now.Sub(pl.From) < 2*24*time.Hour || (pl.Kind == simulate.PlantCancelledVisited && len(pl.Records) < 2) ||
			(pl.Kind == simulate.PlantRepeatBuilding && len(pl.Records) < 4) {
			continue // a kind no rule here finds, just begun, or not yet made (bench.Judged)
		}
		judged++
		hit := false
		series := pl.Kind == simulate.PlantIncidentSpike || pl.Kind == simulate.PlantOnTimeDrop
		for _, f := range flags {
			// A series detector's flag of an area in the plant's area, or
			// holding it (a spiking community's street), is the plant's too.
			where := f.subject == pl.Subject || series && (strings.HasPrefix(f.subject, pl.Area) || strings.HasPrefix(pl.Area, f.subject))
			if f.rule == rule && where && f.start.Before(pl.To.Add(time.Minute)) && f.end.After(pl.From) {
				f.matched, hit = true, true
			}
		}
		if hit {
			found++
		} else {
			t.Errorf("rule %s did not flag %s %s (%s – %s, magnitude %.2f)", rule, pl.Kind, pl.Subject, pl.From.Format(time.DateTime), pl.To.Format(time.DateTime), pl.Magnitude)
		}
	}
	matched := 0
	for _, f := range flags {
		if f.matched {
			matched++
		} else {
			t.Logf("flagged without a plant: %s %s (%s)", f.rule, f.subject, f.start.Format(time.DateOnly))
		}
	}
	t.Logf("rules: %d of %d plants found; %d of %d open anomalies are plants", found, judged, matched, len(flags))
}
