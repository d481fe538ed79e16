package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/internal/api"
	"github.com/yiwang-gov/yiwang/internal/store"
)

func newSQL() *cobra.Command {
	var server, data, format string
	var limit int
	cmd := &cobra.Command{
		Use:   `sql "SELECT ..."`,
		Short: "Run a read-only query through the running server, or on the database file when none runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := queryServer(cmd.Context(), server, args[0], limit, adminToken(data))
			if errors.Is(err, syscall.ECONNREFUSED) {
				res, err = queryFile(cmd.Context(), filepath.Join(data, "yiwang.duckdb"), args[0], limit)
			}
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), res, format)
		},
	}
	def := defaultServer()
	cmd.Flags().StringVar(&server, "server", def, "server URL (default $YIWANG_SERVER or http://127.0.0.1:8080)")
	cmd.Flags().StringVar(&data, "data", dataDir(), "data directory: its admin.token when $YIWANG_ADMIN_TOKEN is unset, its database when no server answers (default $YIWANG_DATA or ./yiwang-data)")
	cmd.Flags().StringVar(&format, "format", "table", "output: table, json or csv")
	cmd.Flags().IntVar(&limit, "limit", 1000, "most rows returned")
	return cmd
}

func queryServer(ctx context.Context, server, q string, limit int, token string) (*store.Result, error) {
	body, _ := json.Marshal(map[string]any{"sql": q, "limit": limit})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(server, "/")+"/api/v1/sql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer of %s: %w", server, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Problem
		_ = json.Unmarshal(raw, &e)
		return nil, fmt.Errorf("%s: HTTP %d: %s", server, resp.StatusCode, e.Detail)
	}
	var res struct {
		store.Result
		Error string `json:"error"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("decode answer of %s: %w", server, err)
	}
	if res.Error != "" { // the query failed after its first rows were sent
		return nil, fmt.Errorf("%s: %s", server, res.Error)
	}
	return &res.Result, nil
}

func queryFile(ctx context.Context, path, q string, limit int) (*store.Result, error) {
	st, err := store.Open(ctx, path, store.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("no server answers, and %w", err)
	}
	defer func() { _ = st.Close() }()
	return st.Query(ctx, q, limit)
}

func printResult(w io.Writer, res *store.Result, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	case "csv", "table":
		sep := "\t"
		var out io.Writer = w
		var tw *tabwriter.Writer
		if format == "csv" {
			sep = ","
		} else {
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			out = tw
		}
		fmt.Fprintln(out, strings.Join(res.Columns, sep))
		for _, row := range res.Rows {
			cells := make([]string, len(row))
			for i, v := range row {
				if v == nil {
					cells[i] = "NULL"
					if format == "csv" {
						cells[i] = ""
					}
				} else {
					cells[i] = fmt.Sprint(v)
				}
			}
			fmt.Fprintln(out, strings.Join(cells, sep))
		}
		if tw != nil {
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if res.Truncated {
			fmt.Fprintln(os.Stderr, "(truncated; raise --limit)")
		}
		return nil
	}
	return fmt.Errorf("--format must be table, json or csv, got %q", format)
}
