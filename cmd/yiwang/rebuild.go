package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/pipelines"
)

func newRebuild() *cobra.Command {
	var file, out, brokers string
	cmd := &cobra.Command{
		Use:   "rebuild -c FILE --out FILE.duckdb",
		Short: "Build a fresh database from the Kafka log and the reference data, while the live one keeps serving",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(file, brokers)
			if err != nil {
				return err
			}
			res, err := pipelines.Rebuild(cmd.Context(), cfg, out, pipelines.Options{Log: slog.Default()})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "rebuilt %s in %s (%d records refused again, already dead letters)\n", out, res.Took.Round(100_000_000), res.DeadLetters)
			fmt.Fprintf(w, "%-22s %10s  %s\n", "table", "rows", "digest")
			for _, t := range res.Tables {
				fmt.Fprintf(w, "%-22s %10d  %s\n", t.Table, t.Rows, t.Sum)
			}
			fmt.Fprintf(w, "compare with the live database: yiwang sql %q (for each table)\n", store.DigestSQL("grid_events"))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "pipelines/newarea.yaml", "pipeline file")
	cmd.Flags().StringVar(&out, "out", "", "the new database file (must not exist)")
	cmd.Flags().StringVar(&brokers, "brokers", "", "Kafka brokers, comma-separated, instead of the file's kafka.brokers (default: the embedded broker of a running yiwang run)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
