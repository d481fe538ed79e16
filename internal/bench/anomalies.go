package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/detect"
	"github.com/yiwang-gov/yiwang/internal/simulate"
	"github.com/yiwang-gov/yiwang/queries"
)

// Planted maps each kind of planted anomaly to the detectors meant to find
// it (their recall is judged on it): a rule query's name, or
// "<indicator>.<detector>".
var Planted = map[string][]string{
	simulate.PlantIncidentSpike:    {"police_incidents_daily.poisson", "police_incidents_daily.robust"},
	simulate.PlantOnTimeDrop:       {"event_ontime_closure_rate.drop"},
	simulate.PlantLaggingPlace:     {"event_ontime_closure_rate.funnel"},
	simulate.PlantSilentCommunity:  {"silent_community"},
	simulate.PlantInstantClosures:  {"instant_closures"},
	simulate.PlantRepeatBuilding:   {"repeat_building"},
	simulate.PlantVisitorOverload:  {"visitor_overload"},
	simulate.PlantCancelledVisited: {"cancelled_store_visited"},
	simulate.PlantShellCluster:     {"shell_cluster"},
}

// Explains maps a detector to the kinds of plant besides those it is meant
// to find whose effects its flags rightly point at: the funnel compares
// places in a period, and a street whose cases were made late for a month
// is worse than its peers that month too, though finding changes in time
// is the drop detector's work.
var Explains = map[string][]string{
	"event_ontime_closure_rate.funnel": {simulate.PlantOnTimeDrop},
}

// areaKinds are the kinds whose subject is an area: a flag of an area in
// the plant's, or holding it (a spiking community's street), is the
// plant's too.
var areaKinds = map[string]bool{simulate.PlantIncidentSpike: true, simulate.PlantOnTimeDrop: true,
	simulate.PlantLaggingPlace: true, simulate.PlantSilentCommunity: true}

// Flag is one flagged subject and period.
type Flag struct {
	Rule, Subject string
	Start, End    time.Time
	Observed      float64
	Expected      float64
	// Right is set by ScoreFlags: the flag is a plant's.
	Right bool
}

// persists are the kinds whose anomaly outlasts the plant's time: shell
// companies stay registered at their address after the inspection round
// that found them, and are found there again.
var persists = map[string]bool{simulate.PlantShellCluster: true}

// matches reports whether flag f, of a detector meant for pl's kind, is pl.
func matches(pl simulate.Plant, f Flag) bool {
	where := f.Subject == pl.Subject ||
		areaKinds[pl.Kind] && (strings.HasPrefix(f.Subject, pl.Area) || strings.HasPrefix(pl.Area, f.Subject))
	return where && (persists[pl.Kind] || f.Start.Before(pl.To.Add(time.Minute))) && f.End.After(pl.From)
}

// Judged returns the plants of the ledger that the judged span [from, to)
// of a history can be judged on: those begun in it at least two days before
// its end (one just begun has made too little to find), those in force
// all along (a lagging place, if clearly one: simulate.ClearlyLagging), for
// a cancelled store visited, those whose
// visit happened, and for a building's repeated problem, those that made
// at least four events (fewer, cut off by the history's end, are not yet
// "again and again").
func Judged(plants []simulate.Plant, from, to time.Time) []simulate.Plant {
	var out []simulate.Plant
	for _, pl := range plants {
		standing := pl.Kind == simulate.PlantLaggingPlace
		if standing && !simulate.ClearlyLagging(pl) {
			continue // a flag on it is right, a miss is no miss
		}
		if !standing && pl.From.Before(from) || to.Sub(pl.From) < 2*24*time.Hour ||
			pl.Kind == simulate.PlantCancelledVisited && len(pl.Records) < 2 || pl.Kind == simulate.PlantRepeatBuilding && len(pl.Records) < 4 {
			continue
		}
		out = append(out, pl)
	}
	return out
}

func samePlant(a, b simulate.Plant) bool {
	return a.Kind == b.Kind && a.Subject == b.Subject && a.From.Equal(b.From)
}

// Score is one detector's or pattern's precision and recall against the
// ledger.
type Score struct {
	Name  string
	Flags int // flagged subject-periods
	Right int // those that are a plant's
	// Plants it is meant to find, and those it found.
	Plants, Found int
}

// Precision is Right/Flags (1 with no flags: nothing wrong was said).
func (s Score) Precision() float64 {
	if s.Flags == 0 {
		return 1
	}
	return float64(s.Right) / float64(s.Flags)
}

// Recall is Found/Plants (1 with no plants).
func (s Score) Recall() float64 {
	if s.Plants == 0 {
		return 1
	}
	return float64(s.Found) / float64(s.Plants)
}

// ScoreFlags judges flags of the detectors in Planted against the ledger
// of plants: per detector, its flags' precision (a flag is right when it is
// a plant of the ledger of a kind the detector finds or Explains, judged or
// not) and its recall of the judged plants of the kinds it is meant for;
// per kind, the recall of any of its detectors and the precision of their
// flags.
func ScoreFlags(ledger, judged []simulate.Plant, flags []Flag) (detectors, kinds []Score) {
	meant := map[string][]string{} // detector → kinds whose plants are right
	for k, rules := range Planted {
		for _, r := range rules {
			meant[r] = append(meant[r], k)
		}
	}
	for r, ks := range Explains {
		meant[r] = append(meant[r], ks...)
	}
	byRule := map[string]*Score{}
	for r := range meant {
		byRule[r] = &Score{Name: r}
	}
	byKind := map[string]*Score{}
	for _, k := range simulate.PlantKinds() {
		byKind[k] = &Score{Name: k}
	}
	right := make([]bool, len(flags))
	defer func() {
		for i := range flags {
			flags[i].Right = right[i]
		}
	}()
	for i, f := range flags {
		s, ok := byRule[f.Rule]
		if !ok {
			continue
		}
		s.Flags++
		for _, pl := range ledger {
			if slices.Contains(meant[f.Rule], pl.Kind) && matches(pl, f) {
				right[i] = true
				break
			}
		}
		if right[i] {
			s.Right++
		}
	}
	for _, pl := range judged {
		k := byKind[pl.Kind]
		k.Plants++
		hit := false
		for _, r := range Planted[pl.Kind] {
			byRule[r].Plants++
			if slices.ContainsFunc(flags, func(f Flag) bool { return f.Rule == r && matches(pl, f) }) {
				byRule[r].Found++
				hit = true
			}
		}
		if hit {
			k.Found++
		}
	}
	for i, f := range flags {
		for k, rules := range Planted {
			if slices.Contains(rules, f.Rule) {
				byKind[k].Flags++
				if right[i] {
					byKind[k].Right++
				}
			}
		}
	}
	for _, s := range byRule {
		detectors = append(detectors, *s)
	}
	slices.SortFunc(detectors, func(a, b Score) int { return strings.Compare(a.Name, b.Name) })
	for _, k := range simulate.PlantKinds() {
		kinds = append(kinds, *byKind[k])
	}
	return detectors, kinds
}

// ReadFlags returns every anomaly the detectors recorded, open or not.
func ReadFlags(ctx context.Context, db *sql.DB) ([]Flag, error) {
	rows, err := db.QueryContext(ctx, `SELECT rule, subject, period_start, period_end, coalesce(observed, 'NaN'), coalesce(expected, 'NaN') FROM anomalies ORDER BY rule, subject, period_start`)
	if err != nil {
		return nil, fmt.Errorf("read the anomalies: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Flag
	for rows.Next() {
		var f Flag
		if err := rows.Scan(&f.Rule, &f.Subject, &f.Start, &f.End, &f.Observed, &f.Expected); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// A peerSeries is what the peer detector watches for some kinds of plant:
// one daily series per subject, as a data-observability tool's dimension
// monitor does (a count of rows per value of a column, per day, or a
// column's daily mean).
type peerSeries struct {
	name  string
	kinds []string
	rate  bool // the series is 100 × num/den, not a count (no zero fill)
	// sql returns subject, day (DATE, Asia/Shanghai), num, den for
	// $1 ≤ time < $2.
	sql string
}

const day = `CAST(timezone('Asia/Shanghai', %s) AS DATE)`

func peerSeriesList() []peerSeries {
	d := func(col string) string { return fmt.Sprintf(day, col) }
	return []peerSeries{
		{name: "police incidents per community", kinds: []string{simulate.PlantIncidentSpike},
			sql: `SELECT substr(grid_code, 1, 12), ` + d("received_at") + `, count(*), 0 FROM police_incidents WHERE received_at >= $1 AND received_at < $2 GROUP BY ALL`},
		{name: "on-time share of events due, per street", kinds: []string{simulate.PlantOnTimeDrop}, rate: true,
			sql: `SELECT substr(grid_code, 1, 9), ` + d("deadline_at") + `, count(*) FILTER (WHERE closed_at <= deadline_at), count(*) FROM grid_events
WHERE deadline_at >= $1 AND deadline_at < $2 AND status NOT IN ('rejected', 'merged') GROUP BY ALL`},
		{name: "on-time share of events due, per street and community", kinds: []string{simulate.PlantLaggingPlace}, rate: true,
			sql: `SELECT place, ` + d("deadline_at") + `, count(*) FILTER (WHERE closed_at <= deadline_at), count(*)
FROM (SELECT unnest([substr(grid_code, 1, 9), substr(grid_code, 1, 12)]) AS place, deadline_at, closed_at FROM grid_events
      WHERE deadline_at >= $1 AND deadline_at < $2 AND status NOT IN ('rejected', 'merged')) GROUP BY ALL`},
		{name: "events and visits per community", kinds: []string{simulate.PlantSilentCommunity},
			sql: `SELECT c, t, count(*), 0 FROM (SELECT substr(grid_code, 1, 12) AS c, ` + d("reported_at") + ` AS t FROM grid_events WHERE reported_at >= $1 AND reported_at < $2
UNION ALL SELECT substr(grid_code, 1, 12), ` + d("visited_at") + ` FROM door_visits WHERE visited_at >= $1 AND visited_at < $2) GROUP BY ALL`},
		{name: "closures within 10 minutes of dispatch per handler", kinds: []string{simulate.PlantInstantClosures},
			sql: `SELECT handler_id, ` + d("closed_at") + `, count(*), 0 FROM grid_events WHERE handler_id IS NOT NULL AND closed_at >= $1 AND closed_at < $2
AND closed_at - dispatched_at < INTERVAL 10 MINUTE GROUP BY ALL`},
		{name: "events per building", kinds: []string{simulate.PlantRepeatBuilding},
			sql: `SELECT building_code, ` + d("reported_at") + `, count(*), 0 FROM grid_events WHERE building_code IS NOT NULL AND reported_at >= $1 AND reported_at < $2 GROUP BY ALL`},
		{name: "household visits per visitor", kinds: []string{simulate.PlantVisitorOverload},
			sql: `SELECT visitor_id, ` + d("visited_at") + `, count(*), 0 FROM door_visits WHERE target_type = 'household' AND visitor_id IS NOT NULL AND visited_at >= $1 AND visited_at < $2 GROUP BY ALL`},
		{name: "visits met per store", kinds: []string{simulate.PlantCancelledVisited},
			sql: `SELECT target_id, ` + d("visited_at") + `, count(*), 0 FROM door_visits WHERE target_type = 'store' AND outcome = 'met' AND visited_at >= $1 AND visited_at < $2 GROUP BY ALL`},
		{name: "unreachable inspections per registered address", kinds: []string{simulate.PlantShellCluster},
			sql: `SELECT e.reg_address, ` + d("i.inspected_at") + `, count(*), 0 FROM market_inspections i JOIN market_entities e USING (usci)
WHERE i.result = 'unreachable' AND e.reg_address IS NOT NULL AND i.inspected_at >= $1 AND i.inspected_at < $2 GROUP BY ALL`},
	}
}

// PeerScores runs the peer detector (detect.ZScore: the trailing 14 days'
// mean and standard deviation, |z| > 3, no calendar) on the daily series of
// each kind's subjects from start to to, and scores its flags of the days
// from from on against plants, per kind.
func PeerScores(ctx context.Context, db *sql.DB, ledger, judged []simulate.Plant, start, from, to time.Time) ([]Score, error) {
	local := start.In(calendar.Zone)
	first := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
	days := int(to.Sub(first).Hours()/24) + 1
	var out []Score
	for _, ps := range peerSeriesList() {
		rows, err := db.QueryContext(ctx, ps.sql+` ORDER BY 1, 2`, start, to)
		if err != nil {
			return nil, fmt.Errorf("peer series %s: %w", ps.name, err)
		}
		var mine []simulate.Plant // of the ledger
		for _, pl := range ledger {
			if slices.Contains(ps.kinds, pl.Kind) {
				mine = append(mine, pl)
			}
		}
		found := make([]bool, len(mine))
		scores := map[string]*Score{}
		for _, k := range ps.kinds {
			scores[k] = &Score{Name: k}
		}
		var flags, right int
		judge := func(subject string, s []detect.Point) {
			for i := range s {
				begin := s[i].Start.Add(-8 * time.Hour) // the day's start in Asia/Shanghai
				if begin.Before(from) || !detect.ZScore(s, i).Flag {
					continue // in the warm-up, or not flagged
				}
				flags++
				f := Flag{Subject: subject, Start: begin, End: begin.Add(24 * time.Hour)}
				hit := false
				for j, pl := range mine {
					if matches(pl, f) {
						found[j], hit = true, true
					}
				}
				if hit {
					right++
				}
			}
		}
		var subject string
		var series []detect.Point
		flush := func() {
			if series != nil {
				judge(subject, series)
			}
		}
		for rows.Next() {
			var subj string
			var d time.Time
			var num, den float64
			if err := rows.Scan(&subj, &d, &num, &den); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("peer series %s: %w", ps.name, err)
			}
			if subj != subject || series == nil {
				flush()
				subject = subj
				series = series[:0:0]
				if !ps.rate { // counts: every day, zero where nothing happened
					for i := range days {
						series = append(series, detect.Point{Start: first.AddDate(0, 0, i)})
					}
				}
			}
			if ps.rate {
				if den > 0 {
					series = append(series, detect.Point{Start: d, Num: 100 * num / den, Den: den})
				}
				continue
			}
			if i := int(d.Sub(first).Hours() / 24); i >= 0 && i < days {
				series[i].Num = num
			}
		}
		flush()
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			return nil, fmt.Errorf("peer series %s: %w", ps.name, err)
		}
		for j, pl := range mine {
			if !slices.ContainsFunc(judged, func(p simulate.Plant) bool { return samePlant(p, pl) }) {
				continue
			}
			s := scores[pl.Kind]
			s.Plants++
			if found[j] {
				s.Found++
			}
		}
		for _, k := range ps.kinds {
			s := scores[k]
			s.Flags, s.Right = flags, right // the series' flags, shared by its kinds
			out = append(out, *s)
		}
	}
	return out, nil
}

// AnomalyReport is what `yiwang bench anomalies` measured.
type AnomalyReport struct {
	From, To  time.Time
	Plants    int // judged
	Detectors []Score
	Kinds     []Score
	Flags     []Flag // every flag of the detectors, judged
	Peer      []Score
	// Unplanted are the detectors no kind of plant is meant for: their
	// flags, which the ledger cannot judge.
	Unplanted map[string]int
	// Speed: the detected indicators' cells, the detectors alone and the
	// rules over the whole history; each scheduled round (every query for
	// its current and previous period).
	Cells, Detect, Rules time.Duration
	Rounds               []time.Duration
}

// JudgeAnomalies runs, on db holding a simulated history from start to to
// (the simulator's clock), the rules and the indicators' detectors over
// the whole history, scores what they flag from from on (the time before
// is a warm-up, where baselines form) and what the peer flags on the same
// data against plants, and times the detectors and scheduled rounds.
func JudgeAnomalies(ctx context.Context, db *sql.DB, cat *queries.Catalog, plants []simulate.Plant, start, from, to time.Time, rounds int, progress io.Writer) (*AnomalyReport, error) {
	r := &AnomalyReport{From: from, To: to, Unplanted: map[string]int{}}
	judged := Judged(plants, from, to)
	r.Plants = len(judged)
	for _, q := range cat.Queries() {
		if q.Kind != queries.KindRule && len(q.Detect) == 0 {
			continue
		}
		began := time.Now()
		res, err := queries.Run(ctx, db, q, start, to, "bench", to)
		if err != nil {
			return nil, err
		}
		took := time.Since(began)
		if q.Kind == queries.KindRule {
			r.Rules += took
			fmt.Fprintf(progress, "  rule %-28s %3d periods in %v: %d flagged\n", q.Name, res.Periods, took.Round(time.Millisecond), res.Anomalies.Opened)
			continue
		}
		r.Cells += took
		// The detectors alone, on the cells now stored (their flags are
		// unchanged the second time).
		began = time.Now()
		if _, err := queries.Detect(ctx, db, q, start, to, "bench", to); err != nil {
			return nil, err
		}
		took = time.Since(began)
		r.Detect += took
		fmt.Fprintf(progress, "  detectors of %-20s %3d periods in %v: %d flagged\n", q.Name, res.Periods, took.Round(time.Millisecond), res.Anomalies.Opened)
	}
	all, err := ReadFlags(ctx, db)
	if err != nil {
		return nil, err
	}
	var flags []Flag
	for _, f := range all {
		if f.End.After(from) { // a period in or reaching into the judged span
			flags = append(flags, f)
		}
	}
	r.Detectors, r.Kinds = ScoreFlags(plants, judged, flags)
	r.Flags = flags
	for _, f := range flags {
		if !slices.ContainsFunc(r.Detectors, func(s Score) bool { return s.Name == f.Rule }) {
			r.Unplanted[f.Rule]++
		}
	}
	if r.Peer, err = PeerScores(ctx, db, plants, judged, start, from, to); err != nil {
		return nil, err
	}
	for i := range rounds {
		began := time.Now()
		for _, q := range cat.Queries() {
			if _, err := queries.Run(ctx, db, q, queries.RoundFrom(q, to), to, fmt.Sprintf("round-%d", i), to); err != nil {
				return nil, err
			}
		}
		r.Rounds = append(r.Rounds, time.Since(began))
	}
	return r, nil
}
