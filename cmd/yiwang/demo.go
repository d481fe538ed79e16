package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/demo"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/internal/api"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/internal/simulate"
	"github.com/yiwang-gov/yiwang/pipelines"
	"github.com/yiwang-gov/yiwang/queries"
)

// demoSeed makes every demo district and record stream the same.
const demoSeed = 20160101

func newDemo() *cobra.Command {
	var data, sources, listen, sourceListen string
	var rate, invalid, anomalies float64
	var duration, history time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline on embedded defaults against simulated source systems of Changchun New Area",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			token := os.Getenv("YIWANG_SOURCE_TOKEN")
			if token == "" {
				token = randomToken()
				if err := os.Setenv("YIWANG_SOURCE_TOKEN", token); err != nil {
					return err
				}
			}
			if history == 0 {
				history = sincePreviousQuarter(time.Now())
			}
			if err := os.MkdirAll(sources, 0o700); err != nil {
				return fmt.Errorf("simulated source systems: %w", err)
			}
			sim := simulate.New(simulate.Config{Seed: demoSeed, Scale: 0.05, Rate: rate, InvalidShare: invalid, Token: token, Now: time.Now,
				History: history, HistoryRate: rate, Dir: sources, Anomalies: anomalies})
			ln, err := net.Listen("tcp", sourceListen)
			if err != nil {
				return fmt.Errorf("simulated source systems: listen on %s: %w", sourceListen, err)
			}
			srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			defer func() { _ = srv.Close() }()
			simCtx, stopSim := context.WithCancel(ctx)
			defer stopSim()
			go func() {
				if err := sim.Run(simCtx); err != nil && !errors.Is(err, context.Canceled) {
					slog.Error("simulator stopped", "err", err)
				}
			}()

			// The platforms that do not offer a REST API: ledgers in a
			// drop folder, the property system's database, the police
			// platform's topic.
			platforms := &demo.Sources{Sim: sim, Dir: sources, Log: slog.Default()}
			env, err := platforms.Start(ctx)
			if err != nil {
				return err
			}
			defer func() { stopSim(); platforms.Close() }()
			if dsn, ok := env[demo.EnvPropertyDSN]; ok {
				if err := os.Setenv(demo.EnvPropertyDSN, dsn); err != nil {
					return err
				}
			}
			env["YIWANG_DATA"] = data
			env["YIWANG_LISTEN"] = listen
			env["YIWANG_SOURCE_URL"] = "http://" + ln.Addr().String()
			cfg, err := demoPipeline(env)
			if err != nil {
				return err
			}
			key, err := demoKey()
			if err != nil {
				return err
			}
			admin, err := demoAdminToken(data)
			if err != nil {
				return err
			}
			tokens, secrets, err := demoTokens(data)
			if err != nil {
				return err
			}
			return pipelines.Run(ctx, cfg, pipelines.Options{
				AdminToken: admin,
				Tokens:     tokens,
				PIIKey:     key,
				Ready: func(server, broker string) {
					platforms.Run(simCtx, []string{broker})
					property := "PostgreSQL " + env[demo.EnvPropertyDSN]
					if env[demo.EnvPropertyAPI] == "true" {
						property = "HTTP API (no PostgreSQL here)"
					}
					fmt.Fprintf(cmd.ErrOrStderr(), `
yiwang demo: Changchun New Area (长春新区), 8 streets, simulated at %g records/s at the peak
  source systems  grid & market: http://%s/api/{grid,market}/...
                  ledgers (XLSX, GBK CSV): %s/drop/{door_visit,store}
                  property work orders: %s
                  police: topic jz.jqxx in the platform's own JSON
                  planted anomalies (their ledger): http://%s/simulator/plants
  kafka           %s (embedded, data in %s/kafka)
  duckdb          %s/yiwang.duckdb
  api             http://%s/api/v1/tables   metrics http://%s/metrics
  admin token     %s (also in %s, which yiwang sql, files, mode... read)
  area tokens     (also in %s)
                  %s
try:   yiwang sql "select status, count(*) from grid_events group by 1"
stop:  Ctrl-C (a second start resumes where this one stopped)

`, rate, ln.Addr(), sources, property, ln.Addr(), broker, data, data, server, server, admin, filepath.Join(data, adminTokenFile),
						filepath.Join(data, demoTokensFile), strings.ReplaceAll(secrets, "\n", "\n                  "))
				},
			})
		},
	}
	cmd.Flags().StringVar(&data, "data", "./yiwang-data", "data directory (broker log and DuckDB file)")
	cmd.Flags().StringVar(&sources, "sources", "./yiwang-sources", "the simulated source systems' own data: drop folders and the property system's PostgreSQL (raw personal data, as in real ones)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "API address")
	cmd.Flags().StringVar(&sourceListen, "source-listen", "127.0.0.1:0", "address of the simulated source systems")
	cmd.Flags().Float64Var(&rate, "rate", 0.05, "new records per second at the weekday daytime peak (0.05 is about 1,400 a day, the district's own pace; the history has the same)")
	cmd.Flags().Float64Var(&invalid, "invalid-share", 0.02, "share of records the sources emit invalid")
	cmd.Flags().Float64Var(&anomalies, "anomalies", 1, "planted anomalies of each kind per 30 days, in the history and the live stream (their ledger: GET /simulator/plants on the source systems' address)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	cmd.Flags().DurationVar(&history, "history", 0, "records the source systems already hold at start, going back this far (0: since the start of the previous quarter)")
	return cmd
}

// sincePreviousQuarter is how long ago the previous calendar quarter began
// (Asia/Shanghai): the demo's history, so that quarter-on-quarter and
// month-on-month comparisons and the detectors' baselines exist at once.
func sincePreviousQuarter(now time.Time) time.Duration {
	lt := now.In(calendar.Zone)
	q := (int(lt.Month()) - 1) / 3 // 0–3, this quarter
	start := time.Date(lt.Year(), time.Month(3*q+1), 1, 0, 0, 0, 0, calendar.Zone).AddDate(0, -3, 0)
	return now.Sub(start)
}

// demoKey is the pseudonym key from YIWANG_PII_KEY, or else an ephemeral
// one: the demo's synthetic ID and phone numbers are still never stored in
// clear, but their pseudonyms change at every start.
// demoPipeline parses the demo pipeline (pipelines/newarea.yaml) with the
// variables of env, then the process environment's.
func demoPipeline(env map[string]string) (*pipelines.Config, error) {
	raw, dir := pipelines.DemoConfig()
	return pipelines.Parse(raw, "pipelines/newarea.yaml", dir, func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	})
}

func demoKey() (*pii.Key, error) {
	if _, set := os.LookupEnv("YIWANG_PII_KEY"); set {
		return pii.KeyFromEnv(os.LookupEnv)
	}
	slog.Warn("YIWANG_PII_KEY is not set: personal fields are keyed with an ephemeral key, so pseudonyms will not match those of another start")
	return pii.EphemeralKey(), nil
}

// demoAdminToken is $YIWANG_ADMIN_TOKEN or else a new random token, which
// the demo prints and writes to the data directory for the CLI: nothing
// answers on the administrator's routes without it, not even on loopback,
// so that a web page the user opens cannot drive them.
func demoAdminToken(data string) (string, error) {
	t := os.Getenv("YIWANG_ADMIN_TOKEN")
	if t == "" {
		t = randomToken()
	}
	if err := os.MkdirAll(data, 0o750); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(data, adminTokenFile), []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the admin token: %w", err)
	}
	return t, nil
}

// demoTokensFile holds the demo's area tokens in its data directory.
const demoTokensFile = "tokens.txt"

// demoTokens makes the demo's three area tokens, new at every start: the
// district's and a street's (北湖街道) operators, and a community's
// (光谷社区) viewer. It writes them to the data directory and returns
// them, with their secrets as lines to print.
func demoTokens(data string) ([]api.Token, string, error) {
	var tokens []api.Token
	var lines []string
	for _, d := range []struct {
		name string
		role api.Role
		area string
		what string
	}{
		{"district", api.RoleOperator, queries.DistrictCode, "operator, the whole district"},
		{"street-beihu", api.RoleOperator, "220173002", "operator, 北湖街道 220173002"},
		{"community-guanggu", api.RoleViewer, "220173002001", "viewer, 光谷社区 220173002001"},
	} {
		secret := api.NewSecret()
		tokens = append(tokens, api.Token{Name: d.name, SHA256: api.HashToken(secret), Role: d.role, Areas: []string{d.area}})
		lines = append(lines, fmt.Sprintf("%-18s %s  (%s)", d.name, secret, d.what))
	}
	text := strings.Join(lines, "\n")
	if err := os.WriteFile(filepath.Join(data, demoTokensFile), []byte(text+"\n"), 0o600); err != nil {
		return nil, "", fmt.Errorf("write the demo's tokens: %w", err)
	}
	return tokens, text, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
