package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yiwang-gov/yiwang/internal/api"
	"github.com/yiwang-gov/yiwang/internal/deadletter"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/connectors"
)

func newDeadLetters() *cobra.Command {
	var server string
	var f deadletter.Filter
	cmd := &cobra.Command{
		Use:   "deadletters",
		Short: "List, show and replay the records refused into yiwang.deadletter.v1 (through the running server)",
	}
	def := defaultServer()
	cmd.PersistentFlags().StringVar(&server, "server", def, "server URL (default $YIWANG_SERVER or http://127.0.0.1:8080)")
	cmd.PersistentFlags().StringVar(&f.Source, "source", "", "only this source")
	cmd.PersistentFlags().StringVar(&f.Schema, "schema", "", "only this record type")
	cmd.PersistentFlags().StringVar(&f.Reason, "reason", "", "only this reason (e.g. bad_area_code)")
	cmd.PersistentFlags().StringVar(&f.Stage, "stage", "", "only this stage: connector or loader")
	cmd.PersistentFlags().IntVar(&f.Limit, "limit", 100, "most records")

	list := &cobra.Command{
		Use:   "list",
		Short: "The newest dead letters, with counts by source and reason",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res struct {
				DeadLetters []deadletter.Record       `json:"deadletters"`
				Counts      map[string]map[string]int `json:"counts"`
			}
			if err := adminCall(cmd.Context(), http.MethodGet, server+"/api/v1/deadletters?"+filterQuery(f), nil, &res); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "OFFSET\tTIME\tSOURCE\tSTAGE\tREASON\tFIELD\tMESSAGE")
			for _, d := range res.DeadLetters {
				fmt.Fprintf(tw, "%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Partition, d.Offset, d.Time.Local().Format(time.DateTime),
					d.Source, d.Stage, d.Reason, d.Field, truncate(d.Message, 60))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d dead letter(s) shown; by source and reason: %v\n", len(res.DeadLetters), res.Counts)
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show PARTITION/OFFSET",
		Short: "One dead letter, whole",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, o, ok := strings.Cut(args[0], "/")
			if !ok {
				p, o = "0", args[0]
			}
			part, err1 := strconv.Atoi(p)
			off, err2 := strconv.ParseInt(o, 10, 64)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("want PARTITION/OFFSET as printed by list, got %q", args[0])
			}
			f.Limit = 1 << 30
			var res struct {
				DeadLetters []deadletter.Record `json:"deadletters"`
			}
			if err := adminCall(cmd.Context(), http.MethodGet, server+"/api/v1/deadletters?"+filterQuery(f), nil, &res); err != nil {
				return err
			}
			for _, d := range res.DeadLetters {
				if d.Partition == part && d.Offset == off {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					return enc.Encode(d)
				}
			}
			return fmt.Errorf("no dead letter at %d/%d among the newest", part, off)
		},
	}
	var dry bool
	replay := &cobra.Command{
		Use:   "replay",
		Short: "Send the matching dead letters back through validation (after a mapping or reference fix)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, _ := json.Marshal(map[string]any{"source": f.Source, "schema": f.Schema, "reason": f.Reason, "stage": f.Stage, "limit": f.Limit, "dry_run": dry})
			var res connectors.ReplayResult
			if err := adminCall(cmd.Context(), http.MethodPost, server+"/api/v1/deadletters/replay", body, &res); err != nil {
				return err
			}
			verb := "replayed"
			if res.DryRun {
				verb = "would replay"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %d record(s); still refused: %v\n", verb, res.Replayed, res.StillInvalid)
			return nil
		},
	}
	replay.Flags().BoolVar(&dry, "dry-run", false, "validate only; produce nothing")
	cmd.AddCommand(list, show, replay)
	return cmd
}

func filterQuery(f deadletter.Filter) string {
	v := url.Values{}
	for k, s := range map[string]string{"source": f.Source, "schema": f.Schema, "reason": f.Reason, "stage": f.Stage} {
		if s != "" {
			v.Set(k, s)
		}
	}
	v.Set("limit", strconv.Itoa(f.Limit))
	return v.Encode()
}

// adminCall calls an administrator's route of the server with
// $YIWANG_ADMIN_TOKEN and decodes the JSON answer into out.
func adminCall(ctx context.Context, method, u string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if t := adminToken(""); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("no server answers at %s (start one with yiwang run or yiwang demo): %w", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Problem
		_ = json.Unmarshal(raw, &e)
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, e.Detail)
	}
	return json.Unmarshal(raw, out)
}

// adminTokenFile holds the demo's admin token in its data directory.
const adminTokenFile = "admin.token"

// adminToken is $YIWANG_ADMIN_TOKEN or, when unset, the token a demo wrote
// to $YIWANG_DATA (default ./yiwang-data).
func adminToken(dir string) string {
	if t := os.Getenv("YIWANG_ADMIN_TOKEN"); t != "" {
		return t
	}
	if dir == "" {
		dir = dataDir()
	}
	b, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// dataDir is $YIWANG_DATA, else ./yiwang-data.
func dataDir() string {
	if d := os.Getenv("YIWANG_DATA"); d != "" {
		return d
	}
	return "./yiwang-data"
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
