package pipelines

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"

	"github.com/yiwang-gov/yiwang/internal/simulate"
	"github.com/yiwang-gov/yiwang/queries"
)

// TestIndicatorsRollUp: over simulated history, a recomputation through
// the API, then GET /api/v1/indicators for zone 220173: every street's
// numerator and denominator are the sums of its communities'.
func TestIndicatorsRollUp(t *testing.T) {
	sim := simulate.New(simulate.Config{Seed: testSeed, Scale: 0.05, InvalidShare: 0.02, Token: "tok", Now: time.Now,
		History: 10 * 24 * time.Hour, HistoryRate: 0.25})
	// Run generates the history and returns at once: the ledger must not
	// move while the test compares it with the tables (lifecycle steps
	// would go on even at rate 0).
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sim.Run(done); err != nil {
		t.Fatal(err)
	}
	p := startDemo(t, sim, "tok", nil)
	waitLedger(t, sim, p.server, p.broker, 120*time.Second)

	now := time.Now().In(calendar.Zone)
	body, _ := json.Marshal(map[string]any{"select": []string{"event_ontime_closure_rate", "door_knock_coverage"},
		"from": now.AddDate(0, -1, 0).Format(time.DateOnly), "to": now.AddDate(0, 0, 1).Format(time.DateOnly)})
	resp, err := http.Post("http://"+p.server+"/api/v1/indicators/run", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("run: HTTP %d %s", resp.StatusCode, b)
	}
	for _, name := range []string{"event_ontime_closure_rate", "door_knock_coverage"} {
		rows := getIndicators(t, p.server, "name="+name+"&area=220173")
		type key struct{ period, area string }
		cells := map[key][]any{}
		streets := 0
		for _, r := range rows {
			cells[key{r[4].(string), r[2].(string)}] = r
		}
		for k, r := range cells {
			if r[1] != "street" {
				continue
			}
			var num, den float64
			complete := true
			for k2, c := range cells {
				if k2.period == k.period && c[1] == "community" && len(k2.area) == 12 && k2.area[:9] == k.area {
					if c[6] == nil {
						complete = false // suppressed: its numbers are withheld
						break
					}
					num += c[6].(float64)
					den += c[7].(float64)
				}
			}
			if !complete || r[6] == nil {
				continue
			}
			streets++
			if num != r[6].(float64) || den != r[7].(float64) {
				t.Errorf("%s %s street %s: %v/%v, its communities sum to %v/%v", name, k.period, k.area, r[6], r[7], num, den)
			}
		}
		if streets == 0 {
			t.Fatalf("%s: no street cell could be checked: %d rows", name, len(rows))
		}
		var dens float64
		for _, r := range rows {
			if r[1] == "street" && r[7] != nil {
				dens += r[7].(float64)
			}
		}
		if dens == 0 {
			t.Fatalf("%s: every street denominator is 0: the check proves nothing", name)
		}
		t.Logf("%s: %d street cells equal the sums of their communities", name, streets)
	}

	// The households the campaign has not reached are the coverage's
	// denominator less its numerator, street by street.
	campaign, _, _ := queries.CampaignOf(now)
	checked := 0
	for _, r := range getIndicators(t, p.server, "name=door_knock_coverage&level=street") {
		start, err := time.Parse(time.RFC3339, r[4].(string))
		if err != nil {
			t.Fatal(err)
		}
		if !start.Equal(campaign) || r[6] == nil {
			continue
		}
		var missing struct{ Rows [][]any }
		getJSON(t, "http://"+p.server+"/api/v1/doorknock/missing?target=household&area="+r[2].(string), &missing)
		if want := int(r[7].(float64) - r[6].(float64)); len(missing.Rows) != want {
			t.Errorf("street %s: %d households listed as missing, coverage %v of %v leaves %d", r[2], len(missing.Rows), r[6], r[7], want)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no street's coverage to compare the missing list with")
	}
	t.Logf("the missing households of %d streets match their door-knock coverage", checked)
}

func getIndicators(t *testing.T, server, q string) [][]any {
	t.Helper()
	var rows [][]any
	after := ""
	for page := 0; ; page++ {
		u := "http://" + server + "/api/v1/indicators?" + q + "&limit=10000"
		if after != "" {
			u += "&after=" + after
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Columns []string
			Rows    [][]any
			Next    string
			Error   string
		}
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || res.Error != "" {
			t.Fatalf("indicators page %d: HTTP %d %v %s", page, resp.StatusCode, err, res.Error)
		}
		want := "[name level area_code area_name period_start period_end numerator denominator value suppressed provisional mode status warn alert inputs_fresh_at run_id version note]"
		if fmt.Sprint(res.Columns) != want {
			t.Fatalf("columns %v", res.Columns)
		}
		rows = append(rows, res.Rows...)
		if res.Next == "" {
			return rows
		}
		after = res.Next
	}
}
