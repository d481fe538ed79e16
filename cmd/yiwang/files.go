package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/internal/api"
)

func newFiles() *cobra.Command {
	var server, source, status string
	var limit int
	cmd := &cobra.Command{
		Use:   "files",
		Short: "The drop folders' finished files and their reports: rows read, loaded, rejected and why (through the running server)",
	}
	cmd.PersistentFlags().StringVar(&server, "server", defaultServer(), "server URL (default $YIWANG_SERVER or http://127.0.0.1:8080)")
	cmd.PersistentFlags().StringVar(&source, "source", "", "only this file-drop source")

	list := &cobra.Command{
		Use:   "list",
		Short: "The newest finished files, one line each",
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if source != "" {
				q.Set("source", source)
			}
			if status != "" {
				q.Set("status", status)
			}
			var res struct {
				Files []api.FileReport `json:"files"`
			}
			if err := adminCall(cmd.Context(), http.MethodGet, server+"/api/v1/files?"+q.Encode(), nil, &res); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FINISHED\tSOURCE\tFILE\tSTATUS\tROWS\tLOADED\tREJECTED\tSTORED AS")
			for _, f := range res.Files {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", f.Finished.Local().Format(time.DateTime), f.Source,
					truncate(f.File, 40), f.Status, f.Rows, f.Produced, f.Rejected, f.StoredAs)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d file(s); yiwang files show FILE prints a file's rejected rows\n", len(res.Files))
			return nil
		},
	}
	list.Flags().StringVar(&status, "status", "", "only files of this status: loaded, duplicate, failed or refused")
	list.Flags().IntVar(&limit, "limit", 50, "most files")

	show := &cobra.Command{
		Use:   "show FILE",
		Short: "One file's report: what became of it and every rejected row by row number",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"file": {args[0]}}
			if source != "" {
				q.Set("source", source)
			}
			var f api.FileReport
			if err := adminCall(cmd.Context(), http.MethodGet, server+"/api/v1/files/report?"+q.Encode(), nil, &f); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "file:      %s (%s, %d bytes, sha256 %s)\n", f.File, f.Source, f.Size, f.SHA256)
			fmt.Fprintf(out, "stored as: %s\n", f.StoredAs)
			fmt.Fprintf(out, "status:    %s — %s\n", f.Status, f.Message)
			if f.Format != "" {
				fmt.Fprintf(out, "read as:   %s\n", strings.TrimSpace(strings.Join([]string{f.Format, f.Encoding, f.Sheet}, " ")))
			}
			fmt.Fprintf(out, "rows:      %d read, %d loaded, %d rejected\n", f.Rows, f.Produced, f.Rejected)
			if f.DuplicateOf != "" {
				fmt.Fprintf(out, "duplicate of: %s\n", f.DuplicateOf)
			}
			if len(f.MissingColumns) > 0 {
				fmt.Fprintf(out, "missing columns: %v\n", f.MissingColumns)
			}
			if len(f.IgnoredColumns) > 0 {
				fmt.Fprintf(out, "ignored columns: %v\n", f.IgnoredColumns)
			}
			if len(f.RejectedRows) == 0 {
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ROW\tCOLUMN\tREASON\tMESSAGE")
			for _, r := range f.RejectedRows {
				col := r.Column
				if col == "" {
					col = r.Field
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Row, col, r.Reason, r.Message)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(list, show)
	return cmd
}
