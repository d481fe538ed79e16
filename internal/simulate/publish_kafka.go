package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/schemas"
)

// DefaultPoliceTopic is the police platform's incident topic (警情信息).
const DefaultPoliceTopic = "jz.jqxx"

// policeTopicPartitions is the partition count of a topic the publisher
// creates. Records are keyed by 接警单号, so one incident's versions keep
// their order.
const policeTopicPartitions = 3

// KafkaPublisher produces the police platform's incidents to a Kafka topic
// in the platform's own JSON shape, not the schema's: one record per
// incident version, keyed by 接警单号, with pinyin-abbreviation names and
// Chinese labels:
//
//	{"jjdbh":"PI20261126000001",           接警单号 (incident_id)
//	 "bjsj":"2026-11-26 08:00:00",         报警时间, naive Asia/Shanghai, whole seconds (received_at)
//	 "jqxz":"报警",                        警情性质 (call_type): 报警 求助 投诉 无效报警 咨询
//	 "jqlb":"交通类",                      警情类别 (category_l1): 刑事类 治安类 交通类 火灾灾害类 纠纷类 求助类 其他类
//	 "jqxl":"交通事故",                    警情细类 (category_l2)
//	 "sfyx":"是",                          是否有效 (is_valid): 是 否
//	 "pcsdm":"PS2201730021",               派出所代码 (station_code)
//	 "fsdd":{"wgbm":"220173002001004",     发生地点: 网格编码 (grid_code),
//	         "jdmc":"北湖街道","sqmc":"…"}, 街道名称, 社区名称
//	 "ddsj":"2026-11-26 08:03:10",         到场时间 (arrived_at), absent until then
//	 "jssj":"2026-11-26 08:20:41",         结束时间 (closed_at), absent until then
//	 "czjg":"调解处理",                    处警结果 (disposal): 调解处理 受案立案 移交处理 劝解教育 其他
//	 "gxsj":"2026-11-26 08:20:41.123456"}  更新时间, naive Asia/Shanghai, microseconds (updated_at)
//
// A field without a value (null in the schema's form) is left out. The
// platform keeps times to the second, except gxsj, which keeps the
// version's microseconds so that the loader orders versions exactly as the
// simulator's Ledger does: a record mapped back has received_at, arrived_at
// and closed_at truncated to the second.
//
// Invalid incidents reach the topic as the platform would send them: a
// wrong grid code as it is, a code outside an enumeration as a label the
// mapping does not know (恶作剧, 网络类), a malformed time as its text, a
// missing required field left out (fsdd without wgbm for a missing grid
// code).
//
// Delivery is at-least-once: a write that failed is written again at the
// next Publish, and a restarted process publishes its re-generated history
// again. The duplicates are harmless: the loader upserts by key and
// version.
type KafkaPublisher struct {
	s      *Simulator
	topic  string
	w      *kafka.Writer
	labels map[string]map[string]string
	places map[string]string // street and community code → name

	mu  sync.Mutex
	pos position
}

var _ Publisher = (*KafkaPublisher)(nil)

// NewKafkaPublisher creates topic (DefaultPoliceTopic if "") on the
// cluster at brokers if it is missing and returns a publisher producing to
// it.
func (s *Simulator) NewKafkaPublisher(ctx context.Context, brokers []string, topic string) (*KafkaPublisher, error) {
	if topic == "" {
		topic = DefaultPoliceTopic
	}
	c := kafka.NewClient(brokers)
	defer c.Close()
	if err := c.EnsureTopics(ctx, []kafka.Topic{{Name: topic, Partitions: policeTopicPartitions}}); err != nil {
		return nil, fmt.Errorf("police platform topic: %w", err)
	}
	places := map[string]string{}
	for _, a := range s.district.Streets() {
		places[a.Code] = a.Name
	}
	for _, a := range s.district.Communities() {
		places[a.Code] = a.Name
	}
	return &KafkaPublisher{s: s, topic: topic, w: kafka.NewWriter(brokers, kafka.WriterOptions{}),
		labels: policeLabels(), places: places, pos: newPosition(s, TransportKafka)}, nil
}

// Topic returns the topic the publisher produces to.
func (p *KafkaPublisher) Topic() string { return p.topic }

// policeLabels are the platform's labels of the schema's codes, by field,
// and ("bad") its labels for the invalid records' codes outside an
// enumeration.
func policeLabels() map[string]map[string]string {
	return map[string]map[string]string{
		"call_type":   {"report": "报警", "assistance": "求助", "complaint": "投诉", "invalid": "无效报警", "consult": "咨询"},
		"category_l1": {"criminal": "刑事类", "public_order": "治安类", "traffic": "交通类", "fire_disaster": "火灾灾害类", "dispute": "纠纷类", "assistance": "求助类", "other": "其他类"},
		"disposal":    {"mediated": "调解处理", "case_opened": "受案立案", "transferred": "移交处理", "advised": "劝解教育", "other": "其他"},
		"bad":         {"prank": "恶作剧", "cyber": "网络类"},
	}
}

// Publish produces the incidents changed since the previous Publish, 5000
// at a time, and returns how many Kafka acknowledged.
func (p *KafkaPublisher) Publish(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pos.drain(ctx, p.s, func(_ kind, batch []change) error {
		now := p.s.cfg.Now()
		msgs := make([]kafka.Message, len(batch))
		for i, c := range batch {
			obj, err := schemas.Decode(c.raw)
			if err != nil {
				return fmt.Errorf("decode own incident %s: %w", c.id, err)
			}
			value, err := json.Marshal(p.platform(obj))
			if err != nil {
				return fmt.Errorf("encode incident %s: %w", c.id, err)
			}
			msgs[i] = kafka.Message{Topic: p.topic, Key: []byte(c.id), Value: value, Time: now}
		}
		if err := p.w.Write(ctx, msgs...); err != nil {
			return fmt.Errorf("produce to %s: %w", p.topic, err)
		}
		return nil
	})
}

// RecordTypes returns the record types the publisher produces.
func (p *KafkaPublisher) RecordTypes() []string { return TransportKafka.RecordTypes() }

// Close flushes and closes the producer.
func (p *KafkaPublisher) Close() error {
	if err := p.w.Close(); err != nil {
		return fmt.Errorf("close police platform producer: %w", err)
	}
	return nil
}

// platform returns an incident (the schema's form) in the platform's shape.
func (p *KafkaPublisher) platform(obj map[string]any) orderedObject {
	// Each helper returns nil for a field without a value, which add
	// leaves out.
	var o orderedObject
	add := func(name string, v any) {
		if v != nil {
			o = append(o, jsonField{name, v})
		}
	}
	str := func(field string) any {
		if v, ok := text(obj, field); ok {
			return v
		}
		return nil
	}
	label := func(field string) any {
		v, ok := text(obj, field)
		if !ok {
			return nil
		}
		if s, ok := p.labels[field][v]; ok {
			return s
		}
		if s, ok := p.labels["bad"][v]; ok {
			return s
		}
		return v
	}
	local := func(field, layout string) any {
		v, ok := text(obj, field)
		if !ok {
			return nil
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.In(calendar.Zone).Format(layout)
		}
		return v // malformed: as the platform holds it
	}
	add("jjdbh", str("incident_id"))
	add("bjsj", local("received_at", time.DateTime))
	add("jqxz", label("call_type"))
	add("jqlb", label("category_l1"))
	add("jqxl", str("category_l2"))
	if b, ok := obj["is_valid"].(bool); ok {
		add("sfyx", map[bool]string{true: "是", false: "否"}[b])
	}
	add("pcsdm", str("station_code"))
	fsdd := orderedObject{}
	if g, ok := text(obj, "grid_code"); ok {
		fsdd = append(fsdd, jsonField{"wgbm", g})
		if len(g) >= 9 && p.places[g[:9]] != "" {
			fsdd = append(fsdd, jsonField{"jdmc", p.places[g[:9]]})
		}
		if len(g) >= 12 && p.places[g[:12]] != "" {
			fsdd = append(fsdd, jsonField{"sqmc", p.places[g[:12]]})
		}
	}
	add("fsdd", fsdd)
	add("ddsj", local("arrived_at", time.DateTime))
	add("jssj", local("closed_at", time.DateTime))
	add("czjg", label("disposal"))
	add("gxsj", local("updated_at", "2006-01-02 15:04:05.000000"))
	return o
}

// jsonField is one name and value of an orderedObject.
type jsonField struct {
	name  string
	value any
}

// orderedObject is a JSON object that keeps its fields in order, as the
// platform writes them.
type orderedObject []jsonField

// MarshalJSON writes the fields in order; an empty object is {}.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(f.name)
		if err != nil {
			return nil, err
		}
		value, err := json.Marshal(f.value)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.name, err)
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
