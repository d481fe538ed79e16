package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Client reads the API the way the command line does: typed answers,
// every page, columns found by name — so that no caller depends on the
// order of an answer's columns.
type Client struct {
	Server string // e.g. http://127.0.0.1:8080
	Token  string // sent as a bearer token when set
	HTTP   *http.Client
}

// IndicatorCell is one cell of GET /api/v1/indicators.
type IndicatorCell struct {
	Name, Level, AreaCode, AreaName string
	PeriodStart, PeriodEnd          time.Time
	// Numerator, Denominator and Value are nil when the cell is
	// suppressed (or, for Value, undefined).
	Numerator, Denominator, Value *float64
	Suppressed, Provisional       bool
	Mode                          string
	Status                        string // ok, warn, alert; "" when not judged
	Warn, Alert                   *float64
	// Note says why a period's cells are empty when the data do not reach
	// back as far as the indicator compares; "" otherwise.
	Note string
}

// Anomaly is one row of GET /api/v1/anomalies.
type Anomaly struct {
	ID, Rule, Subject, AreaCode string
	PeriodStart, PeriodEnd      time.Time
	Mode, Severity, Status      string
	Observed, Expected          *float64
	Detail                      string
	OpenedAt, UpdatedAt         time.Time
	ResolvedAt                  *time.Time
	Version                     int
	Records                     []string // "table:id"
}

// Anomalies returns every anomaly the filter selects (status, rule, area),
// the most recently changed first; path "/api/v1/anomalies/ID" reads one.
func (c *Client) Anomalies(ctx context.Context, path string, filter url.Values) ([]Anomaly, error) {
	var out []Anomaly
	err := c.pages(ctx, path, filter, func(r named) error {
		get, str, num := r.get, r.str, r.num
		at := func(name string) *time.Time {
			if t, ok := r.time(name); ok {
				return &t
			}
			return nil
		}
		a := Anomaly{ID: str("id"), Rule: str("rule"), Subject: str("subject"), AreaCode: str("area_code"),
			Mode: str("mode"), Severity: str("severity"), Status: str("status"), Observed: num("observed"), Expected: num("expected"),
			Detail: str("detail"), ResolvedAt: at("resolved_at")}
		for name, t := range map[string]*time.Time{"period_start": &a.PeriodStart, "period_end": &a.PeriodEnd, "opened_at": &a.OpenedAt, "updated_at": &a.UpdatedAt} {
			if v := at(name); v != nil {
				*t = *v
			}
		}
		if v := num("version"); v != nil {
			a.Version = int(*v)
		}
		if recs, ok := get("records").([]any); ok {
			for _, r := range recs {
				if s, ok := r.(string); ok {
					a.Records = append(a.Records, s)
				}
			}
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// page is one JSON page of a list route.
type page struct {
	Columns []string
	Rows    [][]any
	Next    string
	Error   string // a failure after the first rows
	Detail  string // a refusal (problem details)
}

// Indicators returns every cell the filter selects (the route's
// parameters: name, area, level, from, to, status), reading every page.
func (c *Client) Indicators(ctx context.Context, filter url.Values) ([]IndicatorCell, error) {
	var out []IndicatorCell
	err := c.pages(ctx, "/api/v1/indicators", filter, func(r named) error {
		var e IndicatorCell
		get, str, num := r.get, r.str, r.num
		tm := func(name string) time.Time { t, _ := r.time(name); return t }
		e.Name, e.Level, e.AreaCode, e.AreaName = str("name"), str("level"), str("area_code"), str("area_name")
		e.PeriodStart, e.PeriodEnd = tm("period_start"), tm("period_end")
		e.Numerator, e.Denominator, e.Value = num("numerator"), num("denominator"), num("value")
		e.Suppressed, _ = get("suppressed").(bool)
		e.Provisional, _ = get("provisional").(bool)
		e.Mode, e.Status = str("mode"), str("status")
		e.Warn, e.Alert = num("warn"), num("alert")
		e.Note = str("note")
		out = append(out, e)
		return nil
	})
	return out, err
}

// named is one row of a page, its columns found by name.
type named struct {
	col map[string]int
	row []any
}

func (r named) get(name string) any {
	if i, ok := r.col[name]; ok && i < len(r.row) {
		return r.row[i]
	}
	return nil
}

func (r named) str(name string) string { s, _ := r.get(name).(string); return s }

func (r named) num(name string) *float64 {
	if f, ok := r.get(name).(float64); ok {
		return &f
	}
	return nil
}

func (r named) time(name string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, r.str(name))
	return t, err == nil
}

// pages calls row for each row of every page of path.
func (c *Client) pages(ctx context.Context, path string, params url.Values, row func(named) error) error {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	v := url.Values{}
	for k, vs := range params {
		v[k] = vs
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Server+path+"?"+v.Encode(), nil)
		if err != nil {
			return err
		}
		if c.Token != "" {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("no server answers at %s: %w", c.Server, err)
		}
		var p page
		err = json.NewDecoder(resp.Body).Decode(&p)
		_ = resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s: HTTP %d, %w", path, resp.StatusCode, err)
		}
		if resp.StatusCode != http.StatusOK || p.Error != "" {
			return fmt.Errorf("%s: HTTP %d: %s%s", path, resp.StatusCode, p.Detail, p.Error)
		}
		col := make(map[string]int, len(p.Columns))
		for i, name := range p.Columns {
			col[name] = i
		}
		for _, r := range p.Rows {
			if err := row(named{col, r}); err != nil {
				return err
			}
		}
		if p.Next == "" {
			return nil
		}
		v.Set("after", p.Next)
	}
}
