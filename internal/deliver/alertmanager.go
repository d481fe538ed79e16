package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Alertmanager sends changes to Prometheus Alertmanager's API v2 (POST
// /api/v2/alerts), so that a district routes anomalies to its WeCom or
// DingTalk receivers with the routing, grouping and silences it already
// runs. Each anomaly is one alert named yiwang_anomaly, labelled with its
// id, rule, severity, area and subject; an open anomaly is sent with an
// end a year away, so it stays active without being sent again, and its
// resolution (or its being marked a false positive) with that time as its
// end.
type Alertmanager struct {
	Receiver string
	URL      string // Alertmanager's base URL, e.g. http://127.0.0.1:9093
	// Client sends the requests (default: http.DefaultClient); Timeout
	// bounds one attempt (default 10 s).
	Client  *http.Client
	Timeout time.Duration
	// GeneratorURL, when set, is the API's base URL: each alert links to
	// its anomaly there.
	GeneratorURL string
}

// Name is the receiver's name.
func (a *Alertmanager) Name() string { return a.Receiver }

// amAlert is an alert of Alertmanager's API v2.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Alert is the alert c makes.
func (a *Alertmanager) alert(c Change) amAlert {
	an := c.Anomaly
	al := amAlert{
		Labels: map[string]string{"alertname": "yiwang_anomaly", "anomaly_id": an.ID, "rule": an.Rule, "severity": an.Severity,
			"area_code": an.AreaCode, "subject": an.Subject, "mode": an.Mode},
		Annotations: map[string]string{"summary": an.Rule + ": " + an.Subject, "description": an.Detail,
			"period": an.PeriodStart.UTC().Format(time.RFC3339) + "/" + an.PeriodEnd.UTC().Format(time.RFC3339)},
		StartsAt: an.OpenedAt.UTC(),
		EndsAt:   c.At.UTC().AddDate(1, 0, 0),
	}
	if an.Observed != nil {
		al.Annotations["observed"] = strconv.FormatFloat(*an.Observed, 'g', -1, 64)
	}
	if an.Expected != nil {
		al.Annotations["expected"] = strconv.FormatFloat(*an.Expected, 'g', -1, 64)
	}
	if an.Status != "open" { // resolved, or marked a false positive
		al.EndsAt = c.At.UTC()
	}
	if a.GeneratorURL != "" {
		al.GeneratorURL = strings.TrimSuffix(a.GeneratorURL, "/") + "/api/v1/anomalies/" + an.ID
	}
	return al
}

// Send posts the alert of c.
func (a *Alertmanager) Send(ctx context.Context, c Change) error {
	body, err := json.Marshal([]amAlert{a.alert(c)})
	if err != nil {
		return err
	}
	if err := post(ctx, a.Client, a.Timeout, strings.TrimSuffix(a.URL, "/")+"/api/v2/alerts", body, nil); err != nil {
		return fmt.Errorf("alertmanager %s: %w", c.ID, err)
	}
	return nil
}
