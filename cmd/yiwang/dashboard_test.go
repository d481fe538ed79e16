package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium, which scripts/install-test-deps
// installs.
const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium for the test, with the flags this
// machine's closed network needs, and collects the page's console errors,
// uncaught exceptions and the browser log's errors (failed loads).
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("no Chromium at %s (scripts/install-test-deps installs Debian's chromium): %v", chromiumPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var problems []string
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, m.String()+" "+m.URL)
				mu.Unlock()
			}
		}
	}()
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), problems...)
	}
}

// artifacts is where the test's screenshots go: $YIWANG_ARTIFACTS, or
// artifacts/ at the repository's root (ignored by git).
func artifacts(t *testing.T) string {
	dir := os.Getenv("YIWANG_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// getJSON asks the running demo with token.
func getJSON(server, token, path string, out any) error {
	req, _ := http.NewRequest("GET", "http://"+server+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: HTTP %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// TestDashboardInChromium opens the dashboard of a running `yiwang demo`
// in headless Chromium: as the district's operator, the indicator chart
// and the time series render with data, a click on a street drills down
// to its communities, and an anomaly is acknowledged from its button
// (the API then shows the feedback); as a community's viewer, the chart
// holds only the community's grids and no button offers an action; no
// console error, exception or failed load all along. Screenshots go to
// the artifacts directory.
func TestDashboardInChromium(t *testing.T) {
	dir := t.TempDir()
	server := freeAddr(t)
	t.Setenv("YIWANG_KAFKA_LISTEN", freeAddr(t))
	ctx, stop := context.WithCancel(context.Background())
	demoDone := make(chan error, 1)
	go func() {
		root := newRoot()
		var out strings.Builder
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{"demo", "--data", filepath.Join(dir, "data"), "--sources", filepath.Join(dir, "src"),
			"--listen", server, "--history", "720h", "--anomalies", "4"})
		demoDone <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-demoDone:
		case <-time.After(30 * time.Second):
		}
	})
	// The demo's tokens, then its first indicators and anomalies.
	tokens := map[string]string{}
	var anomalies, cells struct {
		Columns []string
		Rows    [][]any
	}
	valued := func() int { // street cells with a value
		n := 0
		for _, r := range cells.Rows {
			if i := indexOf(cells.Columns, "value"); i >= 0 && r[i] != nil {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(6 * time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		select {
		case err := <-demoDone:
			t.Fatalf("the demo stopped: %v", err)
		default:
		}
		if len(tokens) == 0 {
			raw, err := os.ReadFile(filepath.Join(dir, "data", "tokens.txt"))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				if f := strings.Fields(line); len(f) >= 2 {
					tokens[f[0]] = f[1]
				}
			}
		}
		d := tokens["district"]
		if getJSON(server, d, "/api/v1/anomalies?status=open&limit=5", &anomalies) != nil || len(anomalies.Rows) == 0 {
			continue
		}
		if getJSON(server, d, "/api/v1/indicators?name=event_ontime_closure_rate&level=street&limit=1000", &cells) == nil && valued() >= 5 {
			break
		}
	}
	if len(anomalies.Rows) == 0 || valued() < 5 {
		t.Fatalf("after 6 minutes the demo has %d open anomalies and %d street cells with a value", len(anomalies.Rows), valued())
	}
	out := artifacts(t)
	b, problems := browser(t)
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		tctx, cancel := context.WithTimeout(b, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(tctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string, into any) {
		t.Helper()
		raw, err := chromedp.Run(b, chromedp.Evaluate[json.RawMessage](expr))
		if err == nil {
			err = json.Unmarshal(raw, into)
		}
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(b, chromedp.FullScreenshot(80))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ready := chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`))

	var bars, points int
	do("open as the district's operator", chromedp.Navigate("http://"+server+"/#token="+tokens["district"]), ready)
	eval(`[...document.querySelectorAll("#chart svg rect.bar")].filter(r => r.dataset.value !== "").length`, &bars)
	eval(`document.querySelectorAll("#series svg circle.point").length`, &points)
	if bars < 5 || points < 1 {
		t.Errorf("district view: %d street bars, %d points in the series", bars, points)
	}
	shot("dashboard-district.jpg")

	var codes []string
	eval(`document.body.dataset.ready = ""`, new(string))
	do("drill down to a street", chromedp.Click(chromedp.CSS(`#chart svg rect.bar`)), ready)
	eval(`[...document.querySelectorAll("#chart svg rect.bar")].map(r => r.dataset.code)`, &codes)
	if len(codes) == 0 {
		t.Error("no community bars after the drill-down")
	}
	for _, c := range codes {
		if len(c) != 12 {
			t.Errorf("after the drill-down, a bar of %s (not a community)", c)
		}
	}
	shot("dashboard-street.jpg")

	var id string
	eval(`document.querySelector('#anomalies button[data-action="ack"]').dataset.id`, &id)
	do("acknowledge an anomaly", chromedp.Click(chromedp.CSS(`#anomalies button[data-action="ack"]`)))
	var one struct {
		Columns []string
		Rows    [][]any
	}
	feedback := func() any {
		if len(one.Rows) != 1 {
			return nil
		}
		return one.Rows[0][indexOf(one.Columns, "feedback")]
	}
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end) && feedback() != "ack"; time.Sleep(200 * time.Millisecond) {
		_ = getJSON(server, tokens["district"], "/api/v1/anomalies/"+id, &one)
	}
	if feedback() != "ack" {
		t.Errorf("anomaly %s after its ack button: %v", id, one.Rows)
	}

	var buttons int
	codes = nil
	eval(`localStorage.clear(), ""`, new(string))
	do("open as a community's viewer", chromedp.Navigate("http://"+server+"/?as=community#token="+tokens["community-guanggu"]), ready)
	eval(`[...document.querySelectorAll("#chart svg rect.bar")].map(r => r.dataset.code)`, &codes)
	eval(`document.querySelectorAll("#anomalies button, #modes button").length`, &buttons)
	if len(codes) == 0 || buttons != 0 {
		t.Errorf("community viewer: bars %v, %d action buttons", codes, buttons)
	}
	for _, c := range codes {
		if !strings.HasPrefix(c, "220173002001") {
			t.Errorf("the community's viewer sees a bar of %s", c)
		}
	}
	shot("dashboard-community.jpg")
	if p := problems(); len(p) > 0 {
		t.Errorf("the page reported:\n%s", strings.Join(p, "\n"))
	}
}

func indexOf(cols []string, name string) int {
	for i, c := range cols {
		if c == name {
			return i
		}
	}
	return -1
}
