package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/internal/simulate"
)

func newSimulate() *cobra.Command {
	var listen string
	var seed int64
	var scale, rate, invalid float64
	var failEvery int
	var history time.Duration
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Serve the simulated source systems (the four platforms' APIs) of the demo district",
		RunE: func(cmd *cobra.Command, _ []string) error {
			sim := simulate.New(simulate.Config{Seed: seed, Scale: scale, Rate: rate, InvalidShare: invalid,
				Token: os.Getenv("YIWANG_SOURCE_TOKEN"), FailEvery: failEvery, Now: time.Now, History: history, HistoryRate: rate / 1000})
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
	cmd.Flags().IntVar(&failEvery, "fail-every", 0, "answer every Nth request with 503 (exercises client retries)")

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
	cmd.AddCommand(ref)
	return cmd
}
