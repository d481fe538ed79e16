package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/internal/simulate"
)

func newSimulate() *cobra.Command {
	var listen string
	var seed int64
	var scale, rate, invalid, anomalies float64
	var failEvery int
	var history time.Duration
	var from, to string
	var historyRate float64
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Serve the simulated source systems (the four platforms' APIs) of the demo district",
		Long: `Serve the simulated source systems (the four platforms' APIs) of the demo district.

With --from and --to the source systems start holding the history of those
dates, generated at full speed before the first request is answered (at
--history-rate records per second at the weekday peak); a --to in the past
stops the clock there, so the stream adds nothing later and the history can
be loaded and checked as it is.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now
			hrate := rate / 1000
			if from != "" || to != "" {
				f, t, err := historyRange(from, to, time.Now())
				if err != nil {
					return err
				}
				history = t.Sub(f)
				if t.Before(time.Now()) {
					now = func() time.Time { return t }
				}
				if historyRate > 0 {
					hrate = historyRate
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "generating %s to %s (%.0f days) at %g records/s at the peak ...\n",
					f.Format(time.DateOnly), t.Format(time.DateOnly), history.Hours()/24, hrate)
			}
			sim := simulate.New(simulate.Config{Seed: seed, Scale: scale, Rate: rate, InvalidShare: invalid,
				Token: os.Getenv("YIWANG_SOURCE_TOKEN"), FailEvery: failEvery, Now: now, History: history, HistoryRate: hrate, Anomalies: anomalies})
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", listen, err)
			}
			srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-cmd.Context().Done()
				_ = srv.Close()
			}()
			go func() { _ = sim.Run(cmd.Context()) }()
			fmt.Fprintf(cmd.ErrOrStderr(), "simulated source systems on http://%s/api/{grid,police,market,property}/<record>\n", ln.Addr())
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8081", "address to serve on")
	cmd.Flags().Int64Var(&seed, "seed", demoSeed, "seed of the district and the record stream")
	cmd.Flags().Float64Var(&scale, "scale", 0.05, "households and stores per grid, as a share of a real grid's")
	cmd.Flags().Float64Var(&rate, "rate", 200, "new events per second at the daytime peak")
	cmd.Flags().Float64Var(&invalid, "invalid-share", 0.02, "share of records emitted invalid")
	cmd.Flags().DurationVar(&history, "history", 240*time.Hour, "records already held at start, going back this far (at rate/1000)")
	cmd.Flags().StringVar(&from, "from", "", "history from this date, YYYY-MM-DD (Asia/Shanghai); replaces --history")
	cmd.Flags().StringVar(&to, "to", "", "history up to this date, exclusive (default: now); a date in the past stops the clock there")
	cmd.Flags().Float64Var(&historyRate, "history-rate", 0, "records per second at the peak during the --from/--to history (default rate/1000)")
	cmd.Flags().IntVar(&failEvery, "fail-every", 0, "answer every Nth request with 503 (exercises client retries)")
	cmd.Flags().Float64Var(&anomalies, "anomalies", 0, "planted anomalies of each kind per 30 days (their ledger: GET /simulator/plants)")

	var seedRef int64
	ref := &cobra.Command{
		Use:   "reference --out DIR",
		Short: "Write the district's reference tables (areas.csv, gov_units.csv)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := cmd.Flags().GetString("out")
			return simulate.NewDistrict(seedRef, 1).WriteReference(out)
		},
	}
	ref.Flags().String("out", "pipelines/newarea", "folder to write")
	ref.Flags().Int64Var(&seedRef, "seed", demoSeed, "seed of the district")
	cmd.AddCommand(ref, newSimulateStats())
	return cmd
}

// newSimulateStats is `yiwang simulate stats`: the lifecycle statistics of
// a simulated history, to judge the simulator's realism.
func newSimulateStats() *cobra.Command {
	var seed int64
	var scale, rate float64
	var days, settle int
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Print the lifecycle statistics (durations in working hours, shares of overdue, rework, deferral and instant closure, street spread) of a simulated history",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 1 || settle < 0 || settle >= days {
				return fmt.Errorf("--days must be at least 1 and --settle between 0 and days-1, got %d and %d", days, settle)
			}
			now := time.Now()
			sim := simulate.New(simulate.Config{Seed: seed, Scale: scale, Now: func() time.Time { return now },
				History: time.Duration(days) * 24 * time.Hour, HistoryRate: rate})
			ctx, cancel := context.WithCancel(cmd.Context())
			cancel() // the history only
			if err := sim.Run(ctx); err != nil {
				return err
			}
			return sim.Stats(now.AddDate(0, 0, -days), now.AddDate(0, 0, -settle)).Write(cmd.OutOrStdout())
		},
	}
	cmd.Flags().Int64Var(&seed, "seed", demoSeed, "seed of the district and the records")
	cmd.Flags().Float64Var(&scale, "scale", 0.01, "scale of the ledgers (households, stores, entities)")
	cmd.Flags().Float64Var(&rate, "rate", 0.05, "new records per second at the daytime peak")
	cmd.Flags().IntVar(&days, "days", 90, "days of history")
	cmd.Flags().IntVar(&settle, "settle", 7, "leave out the cases of the last days, most of which are still open")
	return cmd
}

// historyRange parses --from and --to as Asia/Shanghai dates; to defaults to
// now and is capped at now (the simulator cannot hold the future).
func historyRange(from, to string, now time.Time) (time.Time, time.Time, error) {
	sh := calendar.Zone
	if from == "" {
		return time.Time{}, time.Time{}, errors.New("--to needs --from: the first date of the history")
	}
	f, err := time.ParseInLocation(time.DateOnly, from, sh)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("--from must be a date YYYY-MM-DD, got %q", from)
	}
	t := now
	if to != "" {
		if t, err = time.ParseInLocation(time.DateOnly, to, sh); err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("--to must be a date YYYY-MM-DD, got %q", to)
		}
		if t.After(now) {
			t = now
		}
	}
	if !f.Before(t) {
		return time.Time{}, time.Time{}, fmt.Errorf("--from %s must be before --to (and before now)", from)
	}
	return f, t, nil
}
