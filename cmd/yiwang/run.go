package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/pipelines"
)

// newRole returns the command of one role: run (everything), connect or
// serve.
func newRole(role pipelines.Role, use, short string) *cobra.Command {
	var file, brokers string
	var noScheduler bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(file, brokers)
			if err != nil {
				return err
			}
			var key *pii.Key
			if _, set := os.LookupEnv("YIWANG_PII_KEY"); set {
				if key, err = pii.KeyFromEnv(os.LookupEnv); err != nil {
					return err
				}
			}
			return pipelines.Run(cmd.Context(), cfg, pipelines.Options{Role: role, AdminToken: os.Getenv("YIWANG_ADMIN_TOKEN"), PIIKey: key, NoScheduler: noScheduler})
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "pipelines/newarea.yaml", "pipeline file")
	cmd.Flags().StringVar(&brokers, "brokers", "", "Kafka brokers, comma-separated, instead of the file's kafka.brokers")
	if role != pipelines.RoleConnect {
		cmd.Flags().BoolVar(&noScheduler, "no-scheduler", false, "compute no indicators on their schedules (e.g. while loading history; yiwang indicators run computes them on request)")
	}
	return cmd
}

// loadConfig reads the pipeline file, with --brokers, when given, in place
// of its kafka.brokers.
func loadConfig(file, brokers string) (*pipelines.Config, error) {
	cfg, err := pipelines.LoadFile(file, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if brokers != "" {
		cfg.Kafka.Brokers = strings.Split(brokers, ",")
	}
	return cfg, nil
}

func newRun() *cobra.Command {
	return newRole(pipelines.RoleAll, "run -c FILE",
		"Run a pipeline in one process: connectors, loader, scheduler and server (embedded broker when kafka.brokers is empty)")
}

func newConnect() *cobra.Command {
	return newRole(pipelines.RoleConnect, "connect -c FILE",
		"Run the connectors only: poll the sources and publish to Kafka (cursors live in Kafka; needs kafka.brokers or --brokers)")
}

func newServe() *cobra.Command {
	return newRole(pipelines.RoleServe, "serve -c FILE",
		"Run the loader, the scheduler and the API over the DuckDB file it alone opens (needs kafka.brokers or --brokers)")
}

func newBroker() *cobra.Command {
	var file, data, listen string
	cmd := &cobra.Command{
		Use:   "broker --data DIR",
		Short: "Run the embedded Kafka-protocol broker on its own, for connect and serve as separate processes without Apache Kafka",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, base := pipelines.DemoConfig()
			cfg, err := pipelines.Parse(raw, "newarea.yaml", base, func(string) (string, bool) { return "", false })
			if file != "" {
				cfg, err = pipelines.LoadFile(file, os.LookupEnv)
			}
			if err != nil {
				return err
			}
			bc := pipelines.BrokerConfig(cfg)
			if cmd.Flags().Changed("data") || file == "" {
				bc.DataDir = data
			}
			if cmd.Flags().Changed("listen") || file == "" {
				bc.Listen = listen
			}
			b, err := kafka.StartBroker(bc)
			if err != nil {
				return err
			}
			defer b.Close()
			slog.Info("kafka broker started", "addr", b.Addr(), "data", bc.DataDir)
			fmt.Fprintln(cmd.OutOrStdout(), b.Addr())
			<-cmd.Context().Done()
			slog.Info("kafka broker stopping")
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "pipeline file whose kafka settings (partitions, segments, retention, sync writes) the broker takes")
	cmd.Flags().StringVar(&data, "data", "./yiwang-data/kafka", "the broker's log directory")
	cmd.Flags().StringVar(&listen, "listen", pipelines.DefaultKafkaListen, "address to listen on")
	return cmd
}
