package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/internal/api"
	"github.com/yiwang-gov/yiwang/internal/calendar"
)

func newAnomalies() *cobra.Command {
	var server, data string
	cmd := &cobra.Command{Use: "anomalies", Short: "The anomalies the rules flagged: list them, show one with the records behind it"}
	cmd.PersistentFlags().StringVar(&server, "server", defaultServer(), "server URL (default $YIWANG_SERVER or http://127.0.0.1:8080)")
	cmd.PersistentFlags().StringVar(&data, "data", "", "data directory whose admin.token to read when $YIWANG_ADMIN_TOKEN is unset (default $YIWANG_DATA or ./yiwang-data)")
	var status, rule, area string
	list := &cobra.Command{
		Use:   "list [--status open|resolved] [--rule R] [--area CODE]",
		Short: "The anomalies, the most recently changed first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := url.Values{}
			for k, s := range map[string]string{"status": status, "rule": rule, "area": area} {
				if s != "" {
					v.Set(k, s)
				}
			}
			as, err := (&api.Client{Server: server, Token: adminToken(data)}).Anomalies(cmd.Context(), "/api/v1/anomalies", v)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tRULE\tSUBJECT\tAREA\tPERIOD\tSEVERITY\tSTATUS\tOBSERVED\tEXPECTED")
			for _, a := range as {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Rule, a.Subject, a.AreaCode,
					a.PeriodStart.In(calendar.Zone).Format(time.DateOnly), a.Severity, a.Status, number(a.Observed), number(a.Expected))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d anomalies\n", len(as))
			return nil
		},
	}
	list.Flags().StringVar(&status, "status", "", "open or resolved")
	list.Flags().StringVar(&rule, "rule", "", "one rule's (yiwang indicators list shows them)")
	list.Flags().StringVar(&area, "area", "", "in this area and under it")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "One anomaly: what was observed against what was expected, and the records behind it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			as, err := (&api.Client{Server: server, Token: adminToken(data)}).Anomalies(cmd.Context(), "/api/v1/anomalies/"+url.PathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			if len(as) == 0 {
				return fmt.Errorf("no anomaly %s; yiwang anomalies list shows them", args[0])
			}
			a := as[0]
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s  %s  %s (%s, %s mode)\n", a.ID, a.Rule, a.Status, a.Severity, a.Mode)
			fmt.Fprintf(w, "subject   %s in %s\n", a.Subject, a.AreaCode)
			fmt.Fprintf(w, "period    %s to %s\n", a.PeriodStart.In(calendar.Zone).Format(time.DateTime), a.PeriodEnd.In(calendar.Zone).Format(time.DateTime))
			fmt.Fprintf(w, "observed  %s, expected %s\n", number(a.Observed), number(a.Expected))
			fmt.Fprintf(w, "detail    %s\n", a.Detail)
			fmt.Fprintf(w, "opened    %s, changed %s (version %d)", a.OpenedAt.In(calendar.Zone).Format(time.DateTime), a.UpdatedAt.In(calendar.Zone).Format(time.DateTime), a.Version)
			if a.ResolvedAt != nil {
				fmt.Fprintf(w, ", resolved %s", a.ResolvedAt.In(calendar.Zone).Format(time.DateTime))
			}
			fmt.Fprintf(w, "\nrecords   %s\n", strings.Join(a.Records, " "))
			return nil
		},
	}
	cmd.AddCommand(list, show)
	for _, action := range []struct{ name, short string }{
		{"ack", "Acknowledge an anomaly: seen, being looked into"},
		{"false-positive", "Mark an anomaly a false positive: it resolves, does not open again for its period, and its period is left out of later baselines"},
		{"incident", "Mark an anomaly a known incident (a burst main, a festival): real and explained, left out of later baselines"},
	} {
		var who, why string
		c := &cobra.Command{
			Use:   action.name + " ID --who NAME [--why TEXT]",
			Short: action.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if who == "" {
					return fmt.Errorf("--who is required: who gives the feedback")
				}
				body, _ := json.Marshal(map[string]string{"who": who, "why": why})
				var res map[string]string
				if err := adminCall(cmd.Context(), http.MethodPost, server+"/api/v1/anomalies/"+url.PathEscape(args[0])+"/"+action.name, body, &res); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "anomaly %s: %s, recorded on every replica\n", args[0], res["feedback"])
				return nil
			},
		}
		c.Flags().StringVar(&who, "who", "", "who gives the feedback")
		c.Flags().StringVar(&why, "why", "", "why")
		cmd.AddCommand(c)
	}
	return cmd
}
