package connectors

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/deadletter"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/schemas"
)

// household H2 with the 32 longest tags the schema accepts: valid, 2 kB.
func tagged() string {
	tags := make([]string, 32)
	for j := range tags {
		tags[j] = strings.Repeat(string(rune('a'+j%26)), 32)
	}
	b, _ := json.Marshal(tags)
	return strings.Replace(strings.Replace(hh, "%s", "H2", 1), `"members_n":3,`, `"members_n":3,"tags":`+string(b)+",", 1)
}

// household H2 whose room code is n bytes long: invalid.
func longRoom(n int) string {
	return strings.Replace(strings.Replace(hh, "%s", "H2", 1), "22017300200100012-02-0301", strings.Repeat("9", n), 1)
}

// TestRunnerTooLargeForKafka: a record over Kafka's message size — over
// the writer's limit, or over a broker's max.message.bytes lower than ours —
// becomes a dead letter with reason too_large and a cut, masked payload;
// the page goes on and the cursor moves past it instead of retrying the
// page forever. Runs against the embedded broker.
func TestRunnerTooLargeForKafka(t *testing.T) {
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := reg.Get("household")
	cases := []struct {
		name             string
		topicMax, dlqMax string // max.message.bytes of the record and dead-letter topics; "" the default
		big              string
		reason           string
	}{
		{"over the writer's limit", "", "", longRoom(1_200_000), schemas.ReasonTooLarge},
		{"over the broker's limit", "1500", "", tagged(), schemas.ReasonTooLarge},
		{"dead letter over the broker's limit", "", "12000", longRoom(30_000), schemas.ReasonSchema},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			b, err := kafka.StartBroker(kafka.BrokerConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			c := kafka.NewClient([]string{b.Addr()})
			defer c.Close()
			topic := kafka.Topic{Name: sc.Topic, Partitions: 1}
			if tc.topicMax != "" {
				topic.Configs = map[string]string{"max.message.bytes": tc.topicMax}
			}
			dlq := kafka.Topic{Name: deadletter.Topic, Partitions: 1}
			if tc.dlqMax != "" {
				dlq.Configs = map[string]string{"max.message.bytes": tc.dlqMax}
			}
			if err := c.EnsureTopics(ctx, []kafka.Topic{topic, dlq, {Name: StateTopic, Partitions: 1}}); err != nil {
				t.Fatal(err)
			}
			w := kafka.NewWriter([]string{b.Addr()}, kafka.WriterOptions{})
			defer func() { _ = w.Close() }()
			src := &pages{size: 10, recs: []string{strings.Replace(hh, "%s", "H1", 1), tc.big, strings.Replace(hh, "%s", "H3", 1)}}
			st := &State{producer: w, cursors: map[string]string{}}
			key, _ := pii.NewKey([]byte(strings.Repeat("k", 32)), "v7")
			r := &Runner{Name: "grid.household", Schema: sc, Source: src, Every: 10 * time.Millisecond, Producer: w, State: st, Key: key,
				Areas: areas{"220173002001": true}, Metrics: metrics.New(), Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			rctx, stop := context.WithCancel(ctx)
			done := make(chan error)
			go func() { done <- r.Run(rctx) }()
			for st.Get("grid.household") != "3" {
				if ctx.Err() != nil {
					stop()
					<-done
					t.Fatalf("the page never went through: cursor %q", st.Get("grid.household"))
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			<-done

			recs, err := c.ReadAll(ctx, sc.Topic)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, m := range recs {
				keys = append(keys, string(m.Key))
			}
			if got := strings.Join(keys, ","); got != "H1,H3" {
				t.Fatalf("records %s, want H1,H3", got)
			}
			dead, err := c.ReadAll(ctx, deadletter.Topic)
			if err != nil {
				t.Fatal(err)
			}
			if len(dead) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dead))
			}
			d := deadletter.Of(dead[0])
			if d.Reason != tc.reason || d.Shape != deadletter.ShapeCut || len(d.Payload) > deadletter.CutPayloadBytes ||
				tc.reason == schemas.ReasonTooLarge && !strings.Contains(d.Message, "bytes, more than Kafka takes") {
				t.Fatalf("dead letter: reason %s shape %q message %q, payload %d bytes", d.Reason, d.Shape, d.Message, len(d.Payload))
			}
			for _, raw := range []string{"220104195603150425", "13800138000"} {
				if strings.Contains(d.Payload, raw) {
					t.Fatalf("raw personal data in the cut payload: %s", d.Payload)
				}
			}
			if !strings.Contains(d.Payload, `"household_id":"H2"`) || !strings.Contains(d.Payload, `"grid_code":"220173002001001"`) {
				t.Fatalf("cut payload: %s", d.Payload)
			}
			src.mu.Lock()
			got := strings.Join(src.outcomes, ", ")
			src.mu.Unlock()
			if got != "test#1 ok, test#2 "+tc.reason+", test#3 ok" {
				t.Fatalf("outcomes: %s", got)
			}
			// A replay cannot bring a cut payload back.
			rp := &Replayer{Client: c, Producer: w, Registry: reg, Areas: areas{"220173002001": true}, Key: key, Now: time.Now}
			res, err := rp.Replay(ctx, deadletter.Filter{}, true)
			if err != nil || res.Replayed != 0 || res.StillInvalid[schemas.ReasonTooLarge] != 1 {
				t.Fatalf("replay: %+v, %v", res, err)
			}
		})
	}
}
