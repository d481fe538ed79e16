package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/pipelines"
)

func newRun() *cobra.Command {
	var file string
	var noScheduler bool
	cmd := &cobra.Command{
		Use:   "run -c FILE",
		Short: "Run a pipeline: connectors, loader and server (embedded broker when kafka.brokers is empty)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := pipelines.LoadFile(file, os.LookupEnv)
			if err != nil {
				return err
			}
			var key *pii.Key
			if _, set := os.LookupEnv("YIWANG_PII_KEY"); set {
				if key, err = pii.KeyFromEnv(os.LookupEnv); err != nil {
					return err
				}
			}
			return pipelines.Run(cmd.Context(), cfg, pipelines.Options{AdminToken: os.Getenv("YIWANG_ADMIN_TOKEN"), PIIKey: key, NoScheduler: noScheduler})
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "pipelines/newarea.yaml", "pipeline file")
	cmd.Flags().BoolVar(&noScheduler, "no-scheduler", false, "compute no indicators on their schedules (e.g. while loading history; yiwang indicators run computes them on request)")
	return cmd
}
