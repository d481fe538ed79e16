package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/internal/bench"
	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/demo"
	"github.com/yiwang-gov/yiwang/internal/simulate"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/pipelines"
	"github.com/yiwang-gov/yiwang/queries"
	"github.com/yiwang-gov/yiwang/schemas"
)

// newBenchAnomalies is `yiwang bench anomalies`: the detectors' precision
// and recall against the simulator's ledger of planted anomalies, beside a
// plain z-score detector's on the same data, and their speed.
func newBenchAnomalies() *cobra.Command {
	var seed int64
	var days, warmup, rounds int
	var scale, rate float64
	var dir, keep, reuse, flagsFile string
	cmd := &cobra.Command{
		Use:   "anomalies",
		Short: "Load a simulated year with planted anomalies through the demo pipeline, then score the detectors and a plain z-score peer against the ledger, and time them",
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, progress := cmd.OutOrStdout(), cmd.ErrOrStderr()
			h, err := historyFor(cmd.Context(), seed, days+warmup, scale, rate, dir, keep, reuse, progress)
			if err != nil {
				return err
			}
			defer h.cleanup()
			// The demo's memory, cores and threads, as its scheduled
			// rounds run.
			raw, base := pipelines.DemoConfig()
			cfg, err := pipelines.Parse(raw, "newarea.yaml", base, os.LookupEnv)
			if err != nil {
				return err
			}
			defer cfg.ApplyRuntime()()
			st, err := store.Open(cmd.Context(), h.db, cfg.StoreOptions())
			if err != nil {
				return err
			}
			defer func() { _ = st.Close() }()
			reg, err := schemas.LoadEmbedded()
			if err != nil {
				return err
			}
			cat, err := queries.LoadEmbedded(reg)
			if err != nil {
				return err
			}
			judgeFrom := h.To.AddDate(0, 0, -days)
			if judgeFrom.Before(h.From) {
				return fmt.Errorf("--days %d is longer than the history kept in %s", days, reuse)
			}
			r, err := bench.JudgeAnomalies(cmd.Context(), st.DB(), cat, h.Plants, h.From, judgeFrom, h.To, rounds, progress)
			if err != nil {
				return err
			}
			writeAnomalyReport(out, h.Seed, days, h.Loaded, r)
			if flagsFile != "" {
				return writeFlags(flagsFile, r)
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&seed, "seed", demoSeed, "seed of the district, its records and its planted anomalies")
	cmd.Flags().IntVar(&days, "days", 365, "days of history judged")
	cmd.Flags().IntVar(&warmup, "warmup", 91, "days of history before them, where baselines form (a drop is judged against the three months before; not judged)")
	cmd.Flags().Float64Var(&scale, "scale", 0.05, "scale of the district's ledgers (the demo's)")
	cmd.Flags().Float64Var(&rate, "rate", 0.05, "new records per second at the weekday daytime peak (the demo's)")
	cmd.Flags().IntVar(&rounds, "rounds", 3, "scheduled rounds timed after the history; the median is reported")
	cmd.Flags().StringVar(&dir, "dir", os.TempDir(), "where the run's broker log, databases and drop folders live (removed afterwards)")
	cmd.Flags().StringVar(&flagsFile, "flags", "", "write every flag, its values and whether it is a plant's to this CSV file")
	cmd.Flags().StringVar(&keep, "keep", "", "keep the loaded history (database and ledger of plants) in this directory, for --reuse")
	cmd.Flags().StringVar(&reuse, "reuse", "", "judge a copy of the history kept by --keep in this directory instead of loading one")
	return cmd
}

// history is a loaded history to judge: a database and the ledger of
// the plants in it.
type history struct {
	Seed     int64
	Scale    float64
	From, To time.Time
	Plants   []simulate.Plant
	Loaded   time.Duration
	db       string
	cleanup  func()
}

// historyFor loads a simulated history through the demo pipeline, or, with
// reuse, copies one kept before (with keep).
func historyFor(ctx context.Context, seed int64, days int, scale, rate float64, dir, keep, reuse string, progress io.Writer) (*history, error) {
	work, err := os.MkdirTemp(dir, "yiwang-bench-anomalies-")
	if err != nil {
		return nil, err
	}
	h := &history{cleanup: func() { _ = os.RemoveAll(work) }}
	if reuse != "" {
		raw, err := os.ReadFile(filepath.Join(reuse, "history.json"))
		if err == nil {
			err = json.Unmarshal(raw, h)
		}
		if err != nil {
			h.cleanup()
			return nil, fmt.Errorf("--reuse %s: %w (keep one with --keep first)", reuse, err)
		}
		h.db = filepath.Join(work, "yiwang.duckdb")
		if err := copyFile(filepath.Join(reuse, "data", "yiwang.duckdb"), h.db); err != nil {
			h.cleanup()
			return nil, err
		}
		// The standing plants follow from the seed: drawn again, so that
		// a history kept before their definition changed is judged by it.
		if h.Scale == 0 {
			h.Scale = 0.05
		}
		// lagging_street is their name in histories kept before.
		h.Plants = slices.DeleteFunc(h.Plants, func(p simulate.Plant) bool {
			return p.Kind == simulate.PlantLaggingPlace || p.Kind == "lagging_street"
		})
		for _, p := range h.Plants {
			if !slices.Contains(simulate.PlantKinds(), p.Kind) {
				h.cleanup()
				return nil, fmt.Errorf("--reuse %s: its ledger has plants of kind %q, which this yiwang does not plant: keep a new history with --keep", reuse, p.Kind)
			}
		}
		h.Plants = append(h.Plants, simulate.New(simulate.Config{Seed: h.Seed, Scale: h.Scale}).LaggingPlaces(h.From)...)
		return h, nil
	}
	load := work
	if keep != "" {
		if err := os.MkdirAll(keep, 0o755); err != nil {
			h.cleanup()
			return nil, err
		}
		load = keep
	}
	now := time.Now().UTC().Truncate(time.Hour)
	span := time.Duration(days) * 24 * time.Hour
	sim := simulate.New(simulate.Config{Seed: seed, Scale: scale, Token: "bench", Now: func() time.Time { return now },
		History: span, HistoryRate: rate, Anomalies: 1})
	begun := time.Now()
	if err := loadHistory(ctx, sim, load, progress); err != nil {
		h.cleanup()
		return nil, err
	}
	h.Seed, h.Scale, h.From, h.To, h.Plants, h.Loaded = seed, scale, now.Add(-span), now, sim.Plants(), time.Since(begun)
	h.db = filepath.Join(load, "data", "yiwang.duckdb")
	if keep != "" { // the kept history stays as loaded: a copy is judged
		raw, _ := json.Marshal(h)
		if err := os.WriteFile(filepath.Join(keep, "history.json"), raw, 0o644); err != nil {
			h.cleanup()
			return nil, err
		}
		judged := filepath.Join(work, "yiwang.duckdb")
		if err := copyFile(h.db, judged); err != nil {
			h.cleanup()
			return nil, err
		}
		h.db = judged
	}
	return h, nil
}

// writeFlags writes the judged flags as CSV.
func writeFlags(path string, r *bench.AnomalyReport) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"rule", "subject", "period_start", "observed", "expected", "plant"})
	for _, fl := range r.Flags {
		_ = w.Write([]string{fl.Rule, fl.Subject, fl.Start.In(calendar.Zone).Format(time.DateTime),
			strconv.FormatFloat(fl.Observed, 'g', 6, 64), strconv.FormatFloat(fl.Expected, 'g', 6, 64), strconv.FormatBool(fl.Right)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// loadHistory runs the demo pipeline (without its scheduler) against sim's
// source systems until every valid record of the simulated history is in
// its table, then stops it, leaving the database in dir/data.
func loadHistory(ctx context.Context, sim *simulate.Simulator, dir string, progress io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The pipeline's warnings and errors, not its progress.
	quiet := slog.New(slog.NewTextHandler(progress, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() { _ = sim.Run(ctx) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	platforms := &demo.Sources{Sim: sim, Dir: filepath.Join(dir, "sources"), TempPostgres: true, Every: 200 * time.Millisecond, Log: quiet}
	env, err := platforms.Start(ctx)
	if err != nil {
		return err
	}
	defer platforms.Close()
	if dsn, ok := env[demo.EnvPropertyDSN]; ok {
		if err := os.Setenv(demo.EnvPropertyDSN, dsn); err != nil {
			return err
		}
	}
	if err := os.Setenv("YIWANG_SOURCE_TOKEN", "bench"); err != nil {
		return err
	}
	env["YIWANG_DATA"], env["YIWANG_LISTEN"], env["YIWANG_KAFKA_LISTEN"] = filepath.Join(dir, "data"), "127.0.0.1:0", "127.0.0.1:0"
	env["YIWANG_SOURCE_URL"] = "http://" + ln.Addr().String()
	cfg, err := demoPipeline(env)
	if err != nil {
		return err
	}
	for i := range cfg.Sources {
		cfg.Sources[i].Every = 200 * time.Millisecond
	}
	// The simulated district's own areas and units: a seed other than the
	// demo's draws other grids, which the demo's reference would refuse.
	ref := filepath.Join(dir, "reference")
	if err := sim.District().WriteReference(ref); err != nil {
		return err
	}
	cfg.Reference.Areas, cfg.Reference.GovUnits = filepath.Join(ref, "areas.csv"), filepath.Join(ref, "gov_units.csv")
	key, err := demoKey()
	if err != nil {
		return err
	}
	const admin = "bench-admin-token"
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- pipelines.Run(ctx, cfg, pipelines.Options{AdminToken: admin, PIIKey: key, NoScheduler: true, Log: quiet,
			Ready: func(server, broker string) {
				platforms.Run(ctx, []string{broker})
				ready <- server
			}})
	}()
	var server string
	select {
	case server = <-ready:
	case err := <-done:
		return fmt.Errorf("the pipeline did not start: %w", err)
	}
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		return err
	}
	start, moved := time.Now(), time.Now()
	for last := ""; ; {
		select {
		case err := <-done:
			return fmt.Errorf("the pipeline stopped: %w", err)
		case <-time.After(2 * time.Second):
		}
		l := sim.Ledger()
		behind, state := 0, ""
		for _, sc := range reg.All() {
			n, err := countRows(server, admin, sc.Table)
			if err != nil {
				select { // the pipeline's own error says more, if it stopped
				case perr := <-done:
					return fmt.Errorf("the pipeline stopped: %w", perr)
				case <-time.After(5 * time.Second):
					return err
				}
			}
			if want := len(l.Valid[sc.Name]); n < want {
				behind += want - n
				state += fmt.Sprintf(" %s %d/%d", sc.Table, n, want)
			}
		}
		if behind == 0 {
			fmt.Fprintf(progress, "yiwang bench anomalies: history loaded in %v\n", time.Since(start).Round(time.Second))
			break
		}
		if state != last {
			if time.Since(start) > 10*time.Second {
				fmt.Fprintf(progress, "  loading (%v):%s\n", time.Since(start).Round(time.Second), state)
			}
			last, moved = state, time.Now()
		}
		if time.Since(moved) > 2*time.Minute {
			return fmt.Errorf("loading stalled for 2 minutes with records missing:%s (refused? yiwang.deadletter.v1 in %s has them)", state, dir)
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// countRows counts a table's rows through the server's SQL API.
func countRows(server, token, table string) (int, error) {
	body, _ := json.Marshal(map[string]any{"sql": "SELECT count(*) FROM " + table})
	req, err := http.NewRequest(http.MethodPost, "http://"+server+"/api/v1/sql", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	var res struct {
		Rows   [][]any
		Error  string
		Detail string
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK || len(res.Rows) != 1 {
		return 0, fmt.Errorf("count %s: HTTP %d %v %s%s", table, resp.StatusCode, err, res.Detail, res.Error)
	}
	n, _ := res.Rows[0][0].(float64)
	return int(n), nil
}

func writeAnomalyReport(w io.Writer, seed int64, days int, loaded time.Duration, r *bench.AnomalyReport) {
	fmt.Fprintf(w, "yiwang bench anomalies: seed %d, %d days judged, %s to %s, after a warm-up (loaded in %v); %d planted anomalies judged\n",
		seed, days, r.From.In(calendar.Zone).Format(time.DateOnly), r.To.In(calendar.Zone).Format(time.DateOnly), loaded.Round(time.Second), r.Plants)
	fmt.Fprintf(w, "\n  %-34s %6s %6s %9s %7s %6s %7s\n", "detector", "flags", "right", "precision", "plants", "found", "recall")
	for _, s := range r.Detectors {
		fmt.Fprintf(w, "  %-34s %6d %6d %9.2f %7d %6d %7.2f\n", s.Name, s.Flags, s.Right, s.Precision(), s.Plants, s.Found, s.Recall())
	}
	fmt.Fprintf(w, "\n  %-20s %-31s | %-38s\n", "", "yiwang (its detectors)", "peer: z-score, 14 days, |z|>3, same data")
	fmt.Fprintf(w, "  %-20s %6s %9s %6s %7s | %6s %9s %6s %7s\n", "pattern", "flags", "precision", "found", "recall", "flags", "precision", "found", "recall")
	for _, s := range r.Kinds {
		i := slices.IndexFunc(r.Peer, func(p bench.Score) bool { return p.Name == s.Name })
		p := r.Peer[i]
		fmt.Fprintf(w, "  %-20s %6d %9.2f %3d/%-2d %7.2f | %6d %9.2f %3d/%-2d %7.2f\n", s.Name, s.Flags, s.Precision(), s.Found, s.Plants, s.Recall(),
			p.Flags, p.Precision(), p.Found, p.Plants, p.Recall())
	}
	if len(r.Unplanted) > 0 {
		var parts []string
		for _, rule := range slices.Sorted(maps.Keys(r.Unplanted)) {
			parts = append(parts, fmt.Sprintf("%s %d", rule, r.Unplanted[rule]))
		}
		fmt.Fprintf(w, "\n  not judged (no kind of plant for them), flags: %s\n", strings.Join(parts, ", "))
	}
	rounds := slices.Clone(r.Rounds)
	slices.Sort(rounds)
	fmt.Fprintf(w, "\n  speed over the history: indicator cells %v, detectors alone %v, rules %v\n",
		r.Cells.Round(time.Millisecond), r.Detect.Round(time.Millisecond), r.Rules.Round(time.Millisecond))
	if len(rounds) > 0 {
		fmt.Fprintf(w, "  a scheduled round (every query, current and previous period): median %v of %d (%v; goal <= 2s)\n",
			rounds[len(rounds)/2].Round(time.Millisecond), len(rounds), rounds)
	}
}
