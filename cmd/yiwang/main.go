// Command yiwang runs the pipeline: connectors, the embedded broker, the
// loader into DuckDB and the API. Each subcommand lives in its own file and
// only parses flags and wires packages.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/internal/pii"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "yiwang:", err)
		stop()
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "yiwang",
		Short:         "yiwang (一网) — the data pipeline of one grid network for grassroots governance",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var level string
	root.PersistentFlags().StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		var l slog.Level
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
		slog.SetDefault(slog.New(pii.NewLogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))))
		return nil
	}
	root.AddCommand(newDemo(), newRun(), newConnect(), newServe(), newBroker(), newRebuild(), newSimulate(), newCheck(), newSQL(), newBench(), newDeadLetters(), newIndicators(), newTest(), newMode(), newFiles())
	return root
}

// defaultServer is the server the CLI talks to: $YIWANG_SERVER, else the
// demo's address.
func defaultServer() string {
	if s := os.Getenv("YIWANG_SERVER"); s != "" {
		return s
	}
	return "http://127.0.0.1:8080"
}
