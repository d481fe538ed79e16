package kafka

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BrokerConfig configures the embedded broker.
type BrokerConfig struct {
	// Listen is the loopback address to listen on, e.g. 127.0.0.1:9092;
	// port 0 picks a free port. kfake advertises this address to clients.
	Listen string
	// DataDir persists topics, offsets and groups across restarts.
	DataDir string
	// Partitions is the default partition count of auto-created topics.
	Partitions int
	// SyncWrites fsyncs every produced batch (slower; survives power loss).
	SyncWrites bool
	// SegmentBytes, RetentionMs and RetentionBytes are the broker-wide
	// defaults; yiwang also sets them on every topic it creates, because
	// kfake enforces retention only on topics that set it.
	SegmentBytes   int64
	RetentionMs    int64
	RetentionBytes int64
	// CleanerBackoffMs is how often retention and compaction run.
	CleanerBackoffMs int64
}

// Broker is the embedded single-node Kafka-protocol broker.
type Broker struct {
	c    *kfake.Cluster
	addr string
}

// StartBroker starts the embedded broker and reloads what DataDir holds.
func StartBroker(cfg BrokerConfig) (*Broker, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded broker listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker listen port %q: %w", portStr, err)
	}
	if host != "127.0.0.1" && host != "localhost" && host != "" {
		return nil, fmt.Errorf("embedded broker listens on loopback only; got %q (point kafka.brokers at a cluster to serve other hosts)", cfg.Listen)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create broker data dir: %w", err)
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 4
	}
	bc := map[string]string{}
	if cfg.SegmentBytes > 0 {
		bc["log.segment.bytes"] = strconv.FormatInt(cfg.SegmentBytes, 10)
	}
	if cfg.RetentionMs != 0 {
		bc["log.retention.ms"] = strconv.FormatInt(cfg.RetentionMs, 10)
	}
	if cfg.RetentionBytes != 0 {
		bc["log.retention.bytes"] = strconv.FormatInt(cfg.RetentionBytes, 10)
	}
	if cfg.CleanerBackoffMs > 0 {
		bc["log.cleaner.backoff.ms"] = strconv.FormatInt(cfg.CleanerBackoffMs, 10)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DataDir(cfg.DataDir),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.AllowAutoTopicCreation(),
		kfake.BrokerConfigs(bc),
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	addrs := c.ListenAddrs()
	return &Broker{c: c, addr: addrs[0]}, nil
}

// Addr returns the broker's address, host:port.
func (b *Broker) Addr() string { return b.addr }

// ApplyRetention enforces retention on every topic now, instead of at the
// next cleaner tick.
func (b *Broker) ApplyRetention() { b.c.ApplyRetention() }

// Close stops the broker and flushes its data directory.
func (b *Broker) Close() { b.c.Close() }
