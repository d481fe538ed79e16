package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/yiwang-gov/yiwang/internal/bench"

	"github.com/spf13/cobra"
)

func newBench() *cobra.Command {
	var o bench.LoaderOptions
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the loader against the limits of this machine: raw Kafka consume and raw DuckDB append, in the same run",
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			runs, err := bench.Loader(cmd.Context(), o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			m := bench.Median(runs)
			ratios := make([]float64, len(runs))
			for i, r := range runs {
				ratios[i] = r.Ratio()
			}
			slices.Sort(ratios)
			fmt.Fprintf(out, "yiwang bench: %d grid events per run, %d run(s), %d partitions, medians\n", o.Records, len(runs), o.Partitions)
			fmt.Fprintf(out, "  raw kafka-go consume (limit)   %10.0f records/s\n", m.ConsumeRate)
			fmt.Fprintf(out, "  raw DuckDB append (limit)      %10.0f rows/s\n", m.AppendRate)
			fmt.Fprintf(out, "  loader end to end              %10.0f records/s\n", m.LoaderRate)
			fmt.Fprintf(out, "  loader / smaller limit         %10.2f   (per run: %v; goal >= 0.50)\n", ratios[len(ratios)/2], fmtRatios(runs))
			if o.Duration > 0 {
				fmt.Fprintf(out, "  latency at %d/s, p50 / p99     %v / %v (max %v; goal p99 <= 1s)\n", o.Rate, m.LatencyP50.Round(time.Millisecond), m.LatencyP99.Round(time.Millisecond), m.LatencyMax.Round(time.Millisecond))
			}
			fmt.Fprintf(out, "  process RSS after loading      %10.0f MiB (peak %.0f MiB; broker, loader and DuckDB in one process)\n", float64(m.RSS)/(1<<20), float64(m.PeakRSS)/(1<<20))
			return nil
		},
	}
	cmd.Flags().IntVar(&o.Records, "records", 1_000_000, "records loaded from a backlog per run")
	cmd.Flags().IntVar(&o.LimitRecords, "limit-records", 1_000_000, "most records the two limits are measured on")
	cmd.Flags().IntVar(&o.Runs, "runs", 3, "runs; medians are reported")
	cmd.Flags().Int64Var(&o.Seed, "seed", demoSeed, "seed of the district and of its grid events")
	cmd.Flags().IntVar(&o.Rate, "rate", 10000, "records/s of the steady latency phase")
	cmd.Flags().DurationVar(&o.Duration, "duration", 20*time.Second, "length of the latency phase (0 skips it)")
	cmd.Flags().IntVar(&o.Partitions, "partitions", 4, "partitions of the topic")
	cmd.Flags().IntVar(&o.Writers, "writers", 0, "loader writers (default: the demo pipeline's)")
	cmd.Flags().Int64Var(&o.CheckpointBytes, "checkpoint-bytes", 0, "DuckDB's checkpoint threshold for the loader's database (0: the store's default)")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	cmd.Flags().StringVar(&o.Dir, "dir", os.TempDir(), "where each run's broker log and databases live (removed afterwards)")
	cmd.AddCommand(newBenchAPI(), newBenchProbe(), newBenchAnomalies())
	return cmd
}

// newBenchProbe is the /healthz probe that `bench api` runs as a process
// of its own.
func newBenchProbe() *cobra.Command {
	var every time.Duration
	cmd := &cobra.Command{
		Use:    "probe URL",
		Short:  "Ask URL at a steady interval until interrupted and print each answer's latency in microseconds (-1 for a failure)",
		Args:   cobra.ExactArgs(1),
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return bench.Probe(cmd.Context(), args[0], every, cmd.OutOrStdout())
		},
	}
	cmd.Flags().DurationVar(&every, "every", 50*time.Millisecond, "interval between two requests")
	return cmd
}

// probeProcess starts this binary's `bench probe` on url.
func probeProcess(ctx context.Context, url string, every time.Duration) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	return exec.CommandContext(ctx, self, "bench", "probe", "--every", every.String(), url)
}

func newBenchAPI() *cobra.Command {
	var o bench.APIOptions
	var runs int
	cmd := &cobra.Command{
		Use:   "api [--server URL] [--broker ADDR] [--clients N] [--duration D]",
		Short: "Load a running server's indicator endpoint with concurrent clients: their latency, /healthz's, the server's memory, and the loader's rate alone and under the load",
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			var all []bench.APIResult
			o.Probe = probeProcess
			if o.Token == "" {
				o.Token = adminToken("")
			}
			for i := range runs {
				fmt.Fprintf(cmd.ErrOrStderr(), "run %d of %d\n", i+1, runs)
				r, err := bench.API(cmd.Context(), o, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				all = append(all, r)
				fmt.Fprintf(out, "run %d: %d answers (%d ok, %d busy 503, %d failed), %.1f MB; p50 %v p99 %v max %v; /healthz p50 %v p99 %v max %v (%d probes; from the clients' process p50 %v p99 %v); RSS %.0f → peak %.0f MiB; loader %.0f/s alone, %.0f/s under load\n",
					i+1, r.Requests, r.OK, r.Busy, r.Failed, float64(r.Bytes)/1e6, r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond), r.Max.Round(time.Millisecond),
					r.HealthP50.Round(100*time.Microsecond), r.HealthP99.Round(100*time.Microsecond), r.HealthMax.Round(100*time.Microsecond), len(r.Health), r.InlineP50.Round(100*time.Microsecond), r.InlineP99.Round(100*time.Microsecond),
					r.RSSBefore/(1<<20), r.RSSPeak/(1<<20), r.LoaderIdle, r.LoaderLoaded)
			}
			med := func(f func(bench.APIResult) float64) float64 {
				v := make([]float64, len(all))
				for i, r := range all {
					v[i] = f(r)
				}
				slices.Sort(v)
				return v[len(v)/2]
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			fmt.Fprintf(out, "yiwang bench api: %d clients on %s for %s, %d run(s), medians\n", o.Clients, o.Path, o.Duration, len(all))
			fmt.Fprintf(out, "  answers ok / busy / failed     %.0f / %.0f / %.0f\n", med(func(r bench.APIResult) float64 { return float64(r.OK) }),
				med(func(r bench.APIResult) float64 { return float64(r.Busy) }), med(func(r bench.APIResult) float64 { return float64(r.Failed) }))
			fmt.Fprintf(out, "  answer p50 / p99               %.0f / %.0f ms\n", med(func(r bench.APIResult) float64 { return ms(r.P50) }), med(func(r bench.APIResult) float64 { return ms(r.P99) }))
			fmt.Fprintf(out, "  /healthz p99 (limit 50 ms)     %.1f ms = %.2f of the limit (a probe process of its own, every 50 ms)\n", med(func(r bench.APIResult) float64 { return ms(r.HealthP99) }), med(func(r bench.APIResult) float64 { return ms(r.HealthP99) })/50)
			fmt.Fprintf(out, "  /healthz p99, clients' process %.1f ms (the probe's goroutine waits behind the clients' too)\n", med(func(r bench.APIResult) float64 { return ms(r.InlineP99) }))
			// Each run adds its backlog to the server (the embedded broker
			// keeps its log in memory, DuckDB caches the new rows), so
			// later runs start higher: the first run's peak is the
			// server's under the load, the growth in a run what one run
			// adds.
			fmt.Fprintf(out, "  server RSS peak, first run     %.0f MiB = %.2f of the 1 GiB limit\n", all[0].RSSPeak/(1<<20), all[0].RSSPeak/(1<<30))
			fmt.Fprintf(out, "  server RSS growth in a run     %.0f MiB (its backlogs included)\n", med(func(r bench.APIResult) float64 { return (r.RSSPeak - r.RSSBefore) / (1 << 20) }))
			fmt.Fprintf(out, "  loader under load / alone      %.0f / %.0f records/s = %.2f\n", med(func(r bench.APIResult) float64 { return r.LoaderLoaded }), med(func(r bench.APIResult) float64 { return r.LoaderIdle }),
				med(func(r bench.APIResult) float64 { return r.LoaderLoaded / r.LoaderIdle }))
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Server, "server", defaultServer(), "the running server")
	cmd.Flags().StringVar(&o.Broker, "broker", "127.0.0.1:9092", "its Kafka, for the loader's backlog")
	cmd.Flags().IntVar(&o.Clients, "clients", 200, "concurrent clients")
	cmd.Flags().DurationVar(&o.Duration, "duration", 20*time.Second, "length of the load")
	cmd.Flags().StringVar(&o.Path, "path", "/api/v1/indicators", "what the clients ask for")
	cmd.Flags().StringVar(&o.Token, "token", "", "the clients' bearer token (default: the admin token, as yiwang sql finds it)")
	cmd.Flags().IntVar(&o.Backlog, "backlog", 100000, "grid events produced for the loader in each phase")
	cmd.Flags().Int64Var(&o.Seed, "seed", demoSeed, "seed of the server's district (the demo's by default)")
	cmd.Flags().IntVar(&runs, "runs", 3, "runs; medians are reported")
	return cmd
}

func fmtRatios(runs []bench.LoaderRun) string {
	s := ""
	for i, r := range runs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2f", r.Ratio())
	}
	return s
}
