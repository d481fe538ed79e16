package simulate

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Transport is a way the simulated source systems hand their records over.
type Transport string

// The transports. The HTTP API serves every record type (Config.HTTPTypes
// can narrow it); each of the others publishes the types of one platform
// the way that platform would.
const (
	// TransportHTTP is the polling REST API of Handler.
	TransportHTTP Transport = "http"
	// TransportLedgers is the community workers' ledgers dropped in a
	// folder: door visits as XLSX, stores as GBK CSV (LedgerPublisher).
	TransportLedgers Transport = "ledgers"
	// TransportPostgres is the property system's work_order table in
	// PostgreSQL (PostgresPublisher).
	TransportPostgres Transport = "postgres"
	// TransportKafka is the police platform's incident topic in its own
	// JSON shape (KafkaPublisher).
	TransportKafka Transport = "kafka"
)

// Transports returns every transport.
func Transports() []Transport {
	return []Transport{TransportHTTP, TransportLedgers, TransportPostgres, TransportKafka}
}

// RecordTypes returns the record types the transport publishes; nil for an
// unknown transport.
func (t Transport) RecordTypes() []string {
	switch t {
	case TransportHTTP:
		return RecordTypes()
	case TransportLedgers:
		return []string{"door_visit", "store"}
	case TransportPostgres:
		return []string{"work_order"}
	case TransportKafka:
		return []string{"police_incident"}
	}
	return nil
}

// Publisher hands the records changed since its previous Publish to one
// transport. Each publisher keeps its own position in every record type it
// covers, as an HTTP client keeps its cursor: a record updated since is
// published again at its new version, a record updated twice in between
// only at its latest, and nothing is skipped, because a record written
// after a Publish read the table is stamped later than everything it read.
type Publisher interface {
	// Publish delivers the current version of every record of the
	// publisher's types written since the previous successful delivery and
	// returns how many it delivered. It blocks for the transport's I/O. On
	// an error the position stays before the records not yet acknowledged,
	// so that the next Publish delivers them again; a transport that stored
	// part of them (a Kafka write that failed half-way) then holds
	// duplicates, which the loader's upsert by key and version absorbs.
	Publish(ctx context.Context) (int, error)
	// Close releases the publisher's connections; it publishes nothing.
	Close() error
}

// DefaultPublishEvery is the interval of the Publish* loops when none is
// given.
const DefaultPublishEvery = 10 * time.Second

// publishBatch bounds the records read from a table at once (and the rows
// of one ledger file).
const publishBatch = 5000

// publishLoop publishes at once and then every `every` of wall time until
// ctx ends, then closes p. A failed Publish is logged and retried at the
// next tick: the transport may come back (a restarted broker or database).
func (s *Simulator) publishLoop(ctx context.Context, p Publisher, t Transport, every time.Duration) error {
	if every <= 0 {
		every = DefaultPublishEvery
	}
	log := s.cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if n, err := p.Publish(ctx); err != nil && ctx.Err() == nil {
			log.Warn("simulated source could not publish; retrying at the next tick", "transport", string(t), "published", n, "err", err)
		}
		select {
		case <-ctx.Done():
			if err := p.Close(); err != nil {
				return fmt.Errorf("close %s publisher: %w", t, err)
			}
			return nil
		case <-tick.C:
		}
	}
}

// PublishLedgers writes the door-visit and store ledgers into dir (one
// subfolder per record type) now and then every `every` of wall time
// (DefaultPublishEvery if 0), until ctx ends; it returns nil then, or at
// once an error if dir cannot be made. See LedgerPublisher.
func (s *Simulator) PublishLedgers(ctx context.Context, dir string, every time.Duration) error {
	p, err := s.NewLedgerPublisher(dir)
	if err != nil {
		return err
	}
	return s.publishLoop(ctx, p, TransportLedgers, every)
}

// PublishPostgres keeps the property system's work_order table in the
// database at url up to date, now and then every `every`, until ctx ends;
// it returns nil then, or at once an error if it cannot connect and create
// the table. See PostgresPublisher.
func (s *Simulator) PublishPostgres(ctx context.Context, url string, every time.Duration) error {
	p, err := s.NewPostgresPublisher(ctx, url)
	if err != nil {
		return err
	}
	return s.publishLoop(ctx, p, TransportPostgres, every)
}

// PublishKafka produces the police platform's incidents to topic
// (DefaultPoliceTopic if "") on the cluster at brokers, now and then every
// `every`, until ctx ends; it returns nil then, or at once an error if the
// topic cannot be created. See KafkaPublisher.
func (s *Simulator) PublishKafka(ctx context.Context, brokers []string, topic string, every time.Duration) error {
	p, err := s.NewKafkaPublisher(ctx, brokers, topic)
	if err != nil {
		return err
	}
	return s.publishLoop(ctx, p, TransportKafka, every)
}

// kindOf returns the kind of a record type.
func (s *Simulator) kindOf(recordType string) (kind, bool) {
	for k, info := range s.kinds {
		if info.name == recordType {
			return kind(k), true
		}
	}
	return 0, false
}

// readChanges returns the current versions of at most limit records of
// kind k after c and the cursor after the last. Like an HTTP response, it
// counts as served: a record written afterwards is stamped later.
func (s *Simulator) readChanges(k kind, c cursor, limit int) ([]change, cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := s.tables[k].changes(c, limit)
	if err != nil || len(out) == 0 {
		return nil, c, err
	}
	last := out[len(out)-1]
	if last.ts > s.served {
		s.served = last.ts
	}
	return out, cursor{ts: last.ts, id: last.id}, nil
}

// position is a publisher's cursor in each record type it covers.
type position map[kind]cursor

// drain hands deliver every change since the position, a batch at a time,
// and moves the position past each batch delivered; it returns how many
// changes were delivered, and stops at the first error (the position stays
// before the batch that failed).
func (p position) drain(ctx context.Context, s *Simulator, deliver func(k kind, batch []change) error) (int, error) {
	n := 0
	for _, k := range p.kinds() {
		for {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			batch, next, err := s.readChanges(k, p[k], publishBatch)
			if err != nil {
				return n, err
			}
			if len(batch) == 0 {
				break
			}
			if err := deliver(k, batch); err != nil {
				return n, err
			}
			p[k] = next
			n += len(batch)
		}
	}
	return n, nil
}

func newPosition(s *Simulator, t Transport) position {
	p := position{}
	for _, name := range t.RecordTypes() {
		if k, ok := s.kindOf(name); ok {
			p[k] = start()
		}
	}
	return p
}

// kinds returns the position's kinds in order.
func (p position) kinds() []kind {
	out := make([]kind, 0, len(p))
	for k := range p {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
