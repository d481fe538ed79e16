package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yiwang-gov/yiwang/internal/api"
	"github.com/yiwang-gov/yiwang/internal/calendar"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/queries"
	"github.com/yiwang-gov/yiwang/schemas"
)

func newIndicators() *cobra.Command {
	var server string
	cmd := &cobra.Command{Use: "indicators", Short: "List, recompute and show the governance indicators"}
	def := defaultServer()
	cmd.PersistentFlags().StringVar(&server, "server", def, "server URL (default $YIWANG_SERVER or http://127.0.0.1:8080)")
	list := &cobra.Command{
		Use:   "list",
		Short: "The indicators and rules built in, with their schedules and levels (a rule: its severity and the records it names)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := catalog()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTITLE\tPERIOD\tUNIT\tSCHEDULE (normal / emergency)\tLEVELS")
			for _, q := range cat.Queries() {
				unit, levels := string(q.Unit), fmt.Sprint(q.Grain)
				if q.Kind == queries.KindRule {
					unit, levels = "rule: "+q.Severity, "flags subjects; records in "+q.Records
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s / %s\t%s\n", q.Name, q.Title.Zh, q.Period, unit,
					q.Schedule.For(queries.Normal), q.Schedule.For(queries.Emergency), levels)
			}
			return tw.Flush()
		},
	}
	var sel []string
	var from, to string
	var refresh bool
	run := &cobra.Command{
		Use:   "run [--select NAME...] (--from DATE --to DATE | --refresh)",
		Short: "Recompute indicators for a date range (through the running server)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if refresh == (from != "" || to != "") {
				return errors.New("give either --from and --to, or --refresh")
			}
			if !refresh && (from == "" || to == "") {
				return errors.New("--from and --to are both required: the first date and the end date (exclusive), YYYY-MM-DD")
			}
			cat, err := catalog()
			if err != nil {
				return err
			}
			names := sel
			if len(names) == 0 {
				for _, q := range cat.Queries() {
					names = append(names, q.Name)
				}
			}
			// --refresh computes what a scheduled run computes: the current
			// period of each indicator and the previous one.
			now := time.Now().In(calendar.Zone)
			rangeOf := func(name string) (string, string) {
				if !refresh {
					return from, to
				}
				q, ok := cat.Get(name)
				if !ok {
					return "", ""
				}
				prev := q.Period.Start(q.Period.Start(now, calendar.Zone).Add(-time.Nanosecond), calendar.Zone)
				return prev.Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)
			}
			if refresh {
				from, to = "the previous period", "now"
			}
			// One request per indicator, so that a terminal shows how far
			// the run got and how long the rest may take.
			bar := newProgress(cmd.ErrOrStderr(), len(names))
			bar.note(fmt.Sprintf("computing %s from %s to %s", orAll(sel), from, to))
			res := map[string]queries.Result{}
			took := map[string]time.Duration{}
			began := time.Now()
			for i, name := range names {
				bar.show(i, name)
				f, t := rangeOf(name)
				if f == "" {
					bar.done()
					return fmt.Errorf("no indicator %q; yiwang indicators list shows them", name)
				}
				body, _ := json.Marshal(map[string]any{"select": []string{name}, "from": f, "to": t})
				var one map[string]queries.Result
				t0 := time.Now()
				if err := adminCall(cmd.Context(), http.MethodPost, server+"/api/v1/indicators/run", body, &one); err != nil {
					bar.done()
					return fmt.Errorf("%s: %w", name, err)
				}
				took[name] = time.Since(t0)
				for k, v := range one {
					res[k] = v
				}
			}
			bar.show(len(names), "")
			bar.done()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPERIODS\tINSERTED\tRESTATED\tUPDATED\tUNCHANGED\tSECONDS")
			for _, name := range names {
				r := res[name]
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.1f\n", name, r.Periods, r.Inserted, r.Restated, r.Updated, r.Unchanged, took[name].Seconds())
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d indicator(s) in %.1f s\n", len(names), time.Since(began).Seconds())
			return nil
		},
	}
	run.Flags().StringSliceVar(&sel, "select", nil, "indicators to compute (default all)")
	run.Flags().StringVar(&from, "from", "", "first date, YYYY-MM-DD (Asia/Shanghai)")
	run.Flags().StringVar(&to, "to", "", "end date, exclusive, YYYY-MM-DD")
	run.Flags().BoolVar(&refresh, "refresh", false, "instead of --from/--to: each indicator's current and previous period, as the scheduler computes them")
	var area, level string
	show := &cobra.Command{
		Use:   "show NAME [--area CODE] [--level LEVEL]",
		Short: "An indicator's series for an area and everything under it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := url.Values{"name": {args[0]}}
			if area != "" {
				v.Set("area", area)
			}
			if level != "" {
				v.Set("level", level)
			}
			cells, err := (&api.Client{Server: server, Token: adminToken("")}).Indicators(cmd.Context(), v)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PERIOD\tLEVEL\tAREA\tNAME\tNUMERATOR\tDENOMINATOR\tVALUE\tSTATUS (mode)")
			for _, c := range cells {
				val := "suppressed"
				if !c.Suppressed {
					val = number(c.Value)
				}
				if c.Note != "" {
					val += " (" + c.Note + ")"
				}
				status := ""
				if c.Status != "" {
					status = fmt.Sprintf("%s (%s)", c.Status, c.Mode)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.PeriodStart.In(calendar.Zone).Format(time.DateOnly), c.Level, c.AreaCode,
					orDash(c.AreaName), number(c.Numerator), number(c.Denominator), val, status)
			}
			return tw.Flush()
		},
	}
	show.Flags().StringVar(&area, "area", "", "area code: this area and everything under it")
	show.Flags().StringVar(&level, "level", "", "only this level: grid, community, street, county, district, gov_unit")
	var target, at string
	missing := &cobra.Command{
		Use:   "missing [--target household|store] [--area CODE] [--at DATE]",
		Short: "Who the door-knocking campaign (敲门行动, one per half-year) has not reached yet, with the latest attempt",
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := url.Values{"target": {target}}
			if area != "" {
				v.Set("area", area)
			}
			if at != "" {
				v.Set("at", at)
			}
			var res struct {
				Columns []string
				Rows    [][]any
			}
			if err := adminCall(cmd.Context(), http.MethodGet, server+"/api/v1/doorknock/missing?"+v.Encode(), nil, &res); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, strings.ToUpper(strings.Join(res.Columns, "\t")))
			for _, r := range res.Rows {
				cells := make([]string, len(r))
				for i, c := range r {
					cells[i] = cell(c)
				}
				fmt.Fprintln(tw, strings.Join(cells, "\t"))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			when := time.Now()
			if at != "" {
				if d, err := time.ParseInLocation(time.DateOnly, at, calendar.Zone); err == nil {
					when = d
				}
			}
			_, _, campaign := queries.CampaignOf(when)
			fmt.Fprintf(cmd.OutOrStdout(), "%d %s(s) not yet reached in campaign %s\n", len(res.Rows), target, campaign)
			return nil
		},
	}
	missing.Flags().StringVar(&target, "target", queries.TargetHousehold, "household or store")
	missing.Flags().StringVar(&area, "area", "", "area code: this area and everything under it (default all)")
	missing.Flags().StringVar(&at, "at", "", "the campaign containing this date, YYYY-MM-DD, counted to its end (default now)")
	cmd.AddCommand(list, run, show, missing)
	return cmd
}

func newTest() *cobra.Command {
	cmd := &cobra.Command{Use: "test", Short: "Run the project's own tests of its definitions"}
	cmd.AddCommand(&cobra.Command{
		Use:   "queries",
		Short: "Run every indicator's <name>_test.yaml against a scratch DuckDB",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := catalog()
			if err != nil {
				return err
			}
			results, err := queries.TestFiles(cmd.Context(), cat, queries.Embedded(), queries.EmbeddedDirs...)
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range results {
				status := "ok  "
				if !r.Passed() {
					status, failed = "FAIL", failed+1
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s:%d %s\n", status, r.File, r.Line, r.Case)
				for _, f := range r.Failures {
					fmt.Fprintf(cmd.OutOrStdout(), "       %s\n", f)
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d query test case(s) failed", failed, len(results))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d query test case(s) passed\n", len(results))
			return nil
		},
	})
	return cmd
}

func catalog() (*queries.Catalog, error) {
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		return nil, err
	}
	return queries.LoadEmbedded(reg)
}

// localDate shows a period start as its Asia/Shanghai date.

func orAll(sel []string) string {
	if len(sel) == 0 {
		return "every indicator"
	}
	return strings.Join(sel, ", ")
}

// number is a value as the tables show it: "-" when there is none.
func number(f *float64) string {
	if f == nil {
		return "-"
	}
	return cell(*f)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cell(v any) string {
	if v == nil {
		return "-"
	}
	if f, ok := v.(float64); ok {
		return fmt.Sprintf("%.4g", f)
	}
	return fmt.Sprint(v)
}

// progress draws a progress bar on a terminal, or plain lines elsewhere.
type progress struct {
	w     io.Writer
	tty   bool
	total int
	start time.Time
}

func newProgress(w io.Writer, total int) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			tty = st.Mode()&os.ModeCharDevice != 0
		}
	}
	return &progress{w: w, tty: tty, total: total, start: time.Now()}
}

func (p *progress) note(s string) { fmt.Fprintln(p.w, s) }

// show says that done of total steps are finished and which runs now.
func (p *progress) show(done int, current string) {
	elapsed := time.Since(p.start)
	eta := ""
	if done > 0 && done < p.total {
		eta = fmt.Sprintf(", about %s left", (elapsed / time.Duration(done) * time.Duration(p.total-done)).Round(time.Second))
	}
	if !p.tty {
		if current != "" {
			fmt.Fprintf(p.w, "[%d/%d] %s (%s elapsed%s)\n", done+1, p.total, current, elapsed.Round(time.Second), eta)
		}
		return
	}
	const width = 30
	filled := width * done / max(p.total, 1)
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d %s %s%s", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		done, p.total, current, elapsed.Round(time.Second), eta)
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

// calendar.Zone is business time (China has kept +08:00 without summer time since 1991).
