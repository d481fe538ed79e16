package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/pipelines"
)

func newBench() *cobra.Command {
	var o pipelines.BenchOptions
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
			runs, err := pipelines.Bench(cmd.Context(), o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			m := pipelines.Median(runs)
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
	cmd.Flags().IntVar(&o.Rate, "rate", 10000, "records/s of the steady latency phase")
	cmd.Flags().DurationVar(&o.Duration, "duration", 20*time.Second, "length of the latency phase (0 skips it)")
	cmd.Flags().IntVar(&o.Partitions, "partitions", 4, "partitions of the topic")
	cmd.Flags().IntVar(&o.Writers, "writers", 0, "loader writers (default: the demo pipeline's)")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	cmd.Flags().StringVar(&o.Dir, "dir", os.TempDir(), "where each run's broker log and databases live (removed afterwards)")
	return cmd
}

func fmtRatios(runs []pipelines.BenchRun) string {
	s := ""
	for i, r := range runs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2f", r.Ratio())
	}
	return s
}
