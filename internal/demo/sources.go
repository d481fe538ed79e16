// Package demo runs the simulated district's hand-overs besides its REST
// APIs — the ledgers dropped in folders, the property system's PostgreSQL
// table, the police platform's Kafka topic — for the demo pipeline
// (pipelines' newarea.yaml), and names the variables that file reads.
// Only cmd and tests import it.
package demo

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/yiwang-gov/yiwang/internal/pgserver"
	"github.com/yiwang-gov/yiwang/internal/simulate"
)

// Sources runs the hand-overs of the simulated platforms that the demo
// pipeline (newarea.yaml) reads besides their REST APIs: the community
// workers' ledgers dropped in a folder, the property system's PostgreSQL
// table and the police platform's Kafka topic.
//
// What it keeps lives in Dir, apart from the pipeline's data directory: the
// source systems hold personal data in clear, as real ones do; yiwang's
// topics, tables and logs never do.
type Sources struct {
	Sim *simulate.Simulator
	// Dir holds the drop folders (Dir/drop) and the property system's
	// database (Dir/postgres).
	Dir string
	// TempPostgres keeps the database in a temporary directory instead
	// (tests).
	TempPostgres bool
	// Every is how often each platform hands over what changed (default
	// 5s).
	Every time.Duration
	Log   *slog.Logger

	pg *pgserver.Server
	wg sync.WaitGroup
}

// The variables newarea.yaml reads for the demo's hand-overs.
const (
	EnvLedgerDir     = "YIWANG_LEDGER_DIR"
	EnvPropertyDSN   = "YIWANG_PROPERTY_DSN"
	EnvPropertySQL   = "YIWANG_PROPERTY_SQL"
	EnvPropertyAPI   = "YIWANG_PROPERTY_API"
	EnvPropertyDelay = "YIWANG_PROPERTY_DELAY"
)

// Start starts the property system's PostgreSQL when this machine has one
// and returns the variables the pipeline file reads: the ledger folder, and
// either the database's URL or, where PostgreSQL cannot run, the switch to
// the property system's HTTP API (said in the log). The caller puts
// EnvPropertyDSN in the process environment, where the SQL connector reads
// it.
func (d *Sources) Start(ctx context.Context) (map[string]string, error) {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Every <= 0 {
		d.Every = 5 * time.Second
	}
	env := map[string]string{EnvLedgerDir: filepath.Join(d.Dir, "drop")}
	for _, t := range simulate.TransportLedgers.RecordTypes() {
		if err := os.MkdirAll(filepath.Join(d.Dir, "drop", t), 0o755); err != nil {
			return nil, err
		}
	}
	fallback := func(err error) (map[string]string, error) {
		d.Log.Warn("the property system's PostgreSQL cannot run here: its work orders come over its HTTP API instead", "why", err)
		env[EnvPropertySQL], env[EnvPropertyAPI] = "false", "true"
		return env, nil
	}
	if err := pgserver.Available(); err != nil {
		return fallback(err)
	}
	var err error
	if !d.TempPostgres {
		if d.pg, err = pgserver.Start(ctx, pgserver.Options{Dir: filepath.Join(d.Dir, "postgres")}); err != nil {
			// E.g. a private parent directory the postgres user cannot
			// enter. A temporary cluster serves as well: the simulator
			// writes the whole table again at every start.
			d.Log.Info("the property system's PostgreSQL runs in a temporary directory", "because", err)
		}
	}
	if d.pg == nil {
		if d.pg, err = pgserver.Start(ctx, pgserver.Options{}); err != nil {
			return fallback(err)
		}
	}
	env[EnvPropertyDSN] = d.pg.URL()
	return env, nil
}

// Run hands records over until ctx ends: ledgers and the property database
// at once, the police topic on brokers (the pipeline's cluster, known once
// it runs). A platform that fails to start is logged; the others go on.
func (d *Sources) Run(ctx context.Context, brokers []string) {
	run := func(name string, f func() error) {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := f(); err != nil && !errors.Is(err, context.Canceled) {
				d.Log.Error("simulated platform stopped", "platform", name, "err", err)
			}
		}()
	}
	run("ledgers", func() error { return d.Sim.PublishLedgers(ctx, filepath.Join(d.Dir, "drop"), d.Every) })
	if d.pg != nil {
		run("property database", func() error { return d.Sim.PublishPostgres(ctx, d.pg.URL(), d.Every) })
	}
	run("police topic", func() error { return d.Sim.PublishKafka(ctx, brokers, simulate.DefaultPoliceTopic, d.Every) })
}

// Close waits for Run's hand-overs to stop (cancel its ctx first) and stops
// the database.
func (d *Sources) Close() {
	d.wg.Wait()
	if d.pg != nil {
		if err := d.pg.Stop(); err != nil {
			d.Log.Warn("stop the property system's PostgreSQL", "err", err)
		}
	}
}
