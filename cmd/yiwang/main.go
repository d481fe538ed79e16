// Command yiwang runs the pipeline: connectors, the embedded broker, the
// loader into DuckDB and the API. Each subcommand lives in its own file and
// only parses flags and wires packages.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

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
	var level, profile string
	root.PersistentFlags().StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&profile, "pprof", "", "serve Go's profiles (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		var l slog.Level
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
		slog.SetDefault(slog.New(pii.NewLogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))))
		if profile != "" {
			return serveProfiles(profile)
		}
		return nil
	}
	root.AddCommand(newDemo(), newRun(), newConnect(), newServe(), newBroker(), newRebuild(), newSimulate(), newCheck(), newSQL(), newBench(), newDeadLetters(), newIndicators(), newAnomalies(), newTest(), newMode(), newFiles())
	return root
}

// serveProfiles serves net/http/pprof's handlers on addr, which must be a
// loopback address: profiles show memory contents.
func serveProfiles(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--pprof %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--pprof %q: profiles are served on a loopback address only (127.0.0.1:PORT)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	slog.Info("serving profiles", "addr", ln.Addr().String())
	return nil
}

// defaultServer is the server the CLI talks to: $YIWANG_SERVER, else the
// demo's address.
func defaultServer() string {
	if s := os.Getenv("YIWANG_SERVER"); s != "" {
		return s
	}
	return "http://127.0.0.1:8080"
}
