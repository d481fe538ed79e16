package deliver

import (
	"context"
	"fmt"

	"github.com/yiwang-gov/yiwang/internal/kafka"
)

// Topic is the Kafka topic the changes are published to, keyed by anomaly
// id (so that one anomaly's changes stay in order on one partition), the
// payload as the webhooks carry it and the change's id in the header
// webhook-id.
const Topic = "yiwang.anomaly.v1"

// Producer writes messages; *kafka.Writer is one. Write returns once the
// cluster acknowledged every message, or an error.
type Producer interface {
	Write(ctx context.Context, msgs ...kafka.Message) error
}

// KafkaTopic publishes changes to Topic.
type KafkaTopic struct {
	Receiver string
	Producer Producer
}

// Name is the receiver's name.
func (k *KafkaTopic) Name() string { return k.Receiver }

// Send publishes c.
func (k *KafkaTopic) Send(ctx context.Context, c Change) error {
	body, err := c.Payload()
	if err != nil {
		return err
	}
	if err := k.Producer.Write(ctx, kafka.Message{Topic: Topic, Key: []byte(c.Anomaly.ID), Value: body,
		Headers: []kafka.Header{{Key: "webhook-id", Value: []byte(c.ID)}, {Key: "type", Value: []byte(c.Type)}}}); err != nil {
		return fmt.Errorf("publish %s: %w", c.ID, err)
	}
	return nil
}
