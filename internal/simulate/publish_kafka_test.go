package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/schemas"
)

// applyMap is a small stand-in for the kafkain connector's mapping, as its
// package documents it, enough to check testdata/police_kafka.yaml against
// the platform shape: path (dotted), values (an unknown label refuses),
// time (layouts in a zone; RFC 3339 in UTC out; an unreadable time
// refuses), optional. It returns the record in the schema's form, or why
// the mapping refused it.
func applyMap(fields map[string]mapField, src map[string]any) ([]byte, error) {
	out := map[string]any{}
	for _, name := range sortedNames(fields) {
		f := fields[name]
		if f.Expr != "" || f.Type != "" {
			return nil, fmt.Errorf("%s: the test's stand-in knows no expr or type", name)
		}
		var v any = src
		for _, part := range strings.Split(f.Path, ".") {
			obj, _ := v.(map[string]any)
			v = obj[part]
		}
		if s, ok := v.(string); v == nil || ok && strings.TrimSpace(s) == "" {
			if f.Default != nil {
				out[name] = f.Default
				continue
			}
			if f.Optional {
				continue
			}
			return nil, fmt.Errorf("%s: %s is absent", name, f.Path)
		}
		if f.Values != nil {
			label := strings.TrimSpace(fmt.Sprint(v))
			mapped, ok := f.Values[label]
			if !ok {
				return nil, fmt.Errorf("%s: unknown label %q at %s", name, label, f.Path)
			}
			v = mapped
		}
		if len(f.Time) > 0 {
			loc, err := time.LoadLocation(f.Timezone)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			s, _ := v.(string)
			var t time.Time
			err = fmt.Errorf("%s: %q is not a time at %s", name, s, f.Path)
			for _, l := range append([]string{time.RFC3339Nano}, f.Time...) {
				if x, perr := time.ParseInLocation(l, s, loc); perr == nil {
					t, err = x, nil
					break
				}
			}
			if err != nil {
				return nil, err
			}
			v = t.UTC().Format(time.RFC3339Nano)
		}
		out[name] = v
	}
	return json.Marshal(out)
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestKafkaPlatformShape produces the police platform's incidents to an
// embedded broker and reads the topic back: one record per version
// published, keyed by 接警单号, in the platform's shape; mapped with
// testdata/police_kafka.yaml (by a stand-in of the mapping), the latest
// version of every valid incident equals the ledger's (times the platform
// keeps to the second compared to the second) and every invalid one is
// refused.
func TestKafkaPlatformShape(t *testing.T) {
	reg := registry(t)
	broker, err := kafka.StartBroker(kafka.BrokerConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	brokers := []string{broker.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	clk := newStepClock(local(2026, 3, 3, 2, 0)) // night: incidents dominate
	s := New(Config{Seed: 13, Scale: 0.002, InvalidShare: 0.25, Now: clk.Now})
	s.Step(1500)
	sources := loadSources(t, "police_kafka.yaml", nil)
	if len(sources) != 1 || sources[0].Type != "kafkain" || sources[0].Kafka == nil || sources[0].Map == nil {
		t.Fatalf("police_kafka.yaml: want one kafkain source with kafka: and map:, got %+v", sources)
	}
	sf := sources[0]
	if sf.Kafka.Topic != DefaultPoliceTopic || sf.Kafka.Start != "earliest" || sf.Schema != "police_incident" {
		t.Fatalf("police_kafka.yaml reads %s from %q (start %q), want police_incident from %s at earliest", sf.Schema, sf.Kafka.Topic, sf.Kafka.Start, DefaultPoliceTopic)
	}
	sc, _ := reg.Get("police_incident")
	for _, c := range sc.Columns {
		if _, ok := sf.Map.Fields[c.Name]; !ok {
			t.Errorf("police_kafka.yaml maps no %s", c.Name)
		}
	}

	p, err := s.NewKafkaPublisher(ctx, brokers, "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	published := 0
	var snapshots []Ledger
	for round := 1; round <= 2; round++ {
		n, err := p.Publish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("round %d: nothing published", round)
		}
		if n2, err := p.Publish(ctx); err != nil || n2 != 0 {
			t.Fatalf("round %d: an immediate second Publish produced %d (%v), want none", round, n2, err)
		}
		published += n
		snapshots = append(snapshots, s.Ledger())
		clk.Advance(3 * time.Minute)
		s.Step(1500)
	}

	c := kafka.NewClient(brokers)
	defer c.Close()
	msgs, err := c.ReadAll(ctx, DefaultPoliceTopic)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != published {
		t.Fatalf("%d records on %s, %d published", len(msgs), DefaultPoliceTopic, published)
	}
	top := []string{"jjdbh", "bjsj", "jqxz", "jqlb", "jqxl", "sfyx", "pcsdm", "fsdd", "ddsj", "jssj", "czjg", "gxsj"}
	naive := regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$`)
	naiveMicro := regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}$`)
	last := map[string]map[string]any{} // 接警单号 → the latest version, by gxsj
	raws := map[string][]byte{}
	final := snapshots[len(snapshots)-1]
	for _, m := range msgs {
		var obj map[string]any
		if err := json.Unmarshal(m.Value, &obj); err != nil {
			t.Fatalf("not JSON: %s", m.Value)
		}
		id, _ := obj["jjdbh"].(string)
		if id == "" || string(m.Key) != id {
			t.Errorf("key %q, 接警单号 %q", m.Key, id)
		}
		for k := range obj {
			if !slices.Contains(top, k) {
				t.Errorf("%s: field %s is not of the platform's shape", id, k)
			}
		}
		if g, ok := obj["gxsj"].(string); !ok || !naiveMicro.MatchString(g) {
			t.Errorf("%s: gxsj %v, want 2006-01-02 15:04:05.000000", id, obj["gxsj"])
		}
		_, invalid := final.Invalid["police_incident"][id]
		for _, f := range []string{"bjsj", "ddsj", "jssj"} {
			if v, ok := obj[f].(string); ok && !naive.MatchString(v) && !invalid {
				t.Errorf("%s: %s %q, want 2006-01-02 15:04:05", id, f, v)
			}
		}
		if _, ok := obj["fsdd"].(map[string]any); !ok {
			t.Errorf("%s: fsdd %v, want an object", id, obj["fsdd"])
		}
		if prev, ok := last[id]; !ok || prev["gxsj"].(string) < obj["gxsj"].(string) {
			last[id] = obj
			raws[id] = m.Value
		}
	}

	// The latest version of each incident, mapped, against the ledger.
	rt := newRoundTrip(t, sc, "received_at", "arrived_at", "closed_at")
	for id, obj := range last {
		rec, err := applyMap(sf.Map.Fields, obj)
		if err != nil {
			if _, ok := final.Invalid["police_incident"][id]; !ok {
				t.Errorf("%s (valid) refused by the mapping: %v\n%s", id, err, raws[id])
			}
			// The mapping refuses unknown labels, unreadable times and
			// missing fields itself, where the schema would have.
			rt.refused[id] = &schemas.RecordError{Reason: schemas.ReasonSchema, Msg: "mapping: " + err.Error()}
			continue
		}
		_ = rt.add(rec, s.District(), clk.Now())
	}
	// Every incident, as changed since the beginning.
	rt.check(Ledger{}, final)
	checkLabels(t, "police_incident", rt.labels)
	t.Logf("%d records, %d incidents: %d accepted, %d refused", len(msgs), len(last), len(rt.accepted), len(rt.refused))

	// A new publisher, as after a restart, produces everything again:
	// duplicates the loader's upsert absorbs.
	p2, err := s.NewKafkaPublisher(ctx, brokers, "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p2.Close() }()
	n, err := p2.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cnt := s.Counts()["police_incident"]; n != cnt.Valid+cnt.Invalid {
		t.Errorf("a new publisher produced %d, want every incident: %d", n, cnt.Valid+cnt.Invalid)
	}
}
