// Package deliver tells the smart-community platform about anomalies: it
// reads the log of anomaly changes (anomaly_changes, in sequence) as an
// outbox and sends each change to every receiver in order, from where that
// receiver last accepted, so that nothing is lost across restarts or a
// receiver's outage. A change a receiver refused, or did not answer in
// time, is sent again with a growing, jittered wait, under the same id
// every time: a receiver that remembers the ids it applied applies each
// change once.
//
// Only the replica that leads delivers (Outbox.Leading). Each receiver's
// position is a row of anomaly_deliveries in the same database as the
// changes; a replica that takes the lead goes on from its own position,
// which may send a change again (the ids are the same, so a deduplicating
// receiver is not misled).
//
// Payloads carry the anomaly's rule, subject (a staff number, a building,
// store or area code, an address), figures and words, never a person's
// name, ID or phone number.
//
// Metrics: yiwang_delivery_attempts_total{receiver,outcome},
// yiwang_delivery_outbox_depth{receiver} and
// yiwang_delivery_last_success_timestamp_seconds{receiver}.
package deliver

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/store"
)

var migrations = []store.Migration{
	{Version: 1, Name: "delivery positions", SQL: `CREATE TABLE IF NOT EXISTS anomaly_deliveries (
  receiver VARCHAR PRIMARY KEY,
  seq BIGINT NOT NULL,
  delivered_at TIMESTAMPTZ NOT NULL)`},
}

// Migrate brings the delivery tables up to date (component "deliver");
// the anomaly tables must exist.
func Migrate(ctx context.Context, st *store.Store) error {
	return st.Migrate(ctx, "deliver", migrations)
}

// Change is one change of an anomaly, as every receiver gets it.
type Change struct {
	// Seq is the change's place in the log.
	Seq int64
	// ID identifies the change, the same on every attempt:
	// "<anomaly id>.<version>".
	ID string
	// Type is anomaly.opened, anomaly.updated, anomaly.resolved or
	// anomaly.feedback (people acknowledged it, or marked it a false
	// positive, which resolves it, or a known incident).
	Type string
	At   time.Time // when the change was made
	// Anomaly is the anomaly: the status and figures the change gave it,
	// its other fields as they are now.
	Anomaly Anomaly
}

// Anomaly is what a payload says of an anomaly.
type Anomaly struct {
	ID          string    `json:"id"`
	Rule        string    `json:"rule"`
	Subject     string    `json:"subject"`
	AreaCode    string    `json:"area_code"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Mode        string    `json:"mode"`
	Severity    string    `json:"severity"`
	Status      string    `json:"status"`
	Observed    *float64  `json:"observed"`
	Expected    *float64  `json:"expected"`
	Detail      string    `json:"detail"`
	OpenedAt    time.Time `json:"opened_at"` // when it first opened
	Version     int       `json:"version"`
	Records     int       `json:"records"` // how many; GET /api/v1/anomalies/{id} lists them
}

// Payload is the change's JSON body, as Standard Webhooks shape it:
// {"type", "timestamp", "data"}.
func (c Change) Payload() ([]byte, error) {
	return json.Marshal(struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      Anomaly   `json:"data"`
	}{c.Type, c.At.UTC(), c.Anomaly})
}

// Receiver is where changes go. Send delivers one change and returns nil
// once the receiver has accepted it; any error means it must be sent
// again (Send is called again with the same change). Send must return when
// ctx ends.
type Receiver interface {
	Name() string
	Send(ctx context.Context, c Change) error
}

// Outbox sends the log of anomaly changes to its receivers.
type Outbox struct {
	DB        *sql.DB
	Receivers []Receiver
	// Leading reports whether this replica leads; nil means it does.
	Leading func() bool
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Now and Sleep are the clock (default: the wall clock); a test
	// replaces them to let hours pass at once.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Poll is how often new changes are looked for (default 2 s);
	// MinBackoff and MaxBackoff bound the wait before a change is sent
	// again (default 1 s doubling to 5 min, each wait drawn between half
	// and all of it).
	Poll, MinBackoff, MaxBackoff time.Duration
}

// Run delivers until ctx ends, each receiver on its own so that one
// receiver's outage does not hold the others.
func (o *Outbox) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(o.Receivers))
	for i, r := range o.Receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = o.run(ctx, r)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (o *Outbox) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Outbox) sleep(ctx context.Context, d time.Duration) error {
	if o.Sleep != nil {
		return o.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (o *Outbox) run(ctx context.Context, r Receiver) error {
	for ctx.Err() == nil {
		if o.Leading != nil && !o.Leading() {
			if err := o.sleep(ctx, or(o.Poll, 2*time.Second)); err != nil {
				return nil
			}
			continue
		}
		n, err := o.deliver(ctx, r)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			o.Log.Warn("anomaly delivery", "receiver", r.Name(), "err", err)
		}
		if n == 0 || err != nil {
			if err := o.sleep(ctx, or(o.Poll, 2*time.Second)); err != nil {
				return nil
			}
		}
	}
	return nil
}

// deliver sends the changes after r's position, up to a page of them, and
// returns how many it delivered.
func (o *Outbox) deliver(ctx context.Context, r Receiver) (int, error) {
	pos, err := o.position(ctx, r.Name())
	if err != nil {
		return 0, err
	}
	changes, depth, err := o.after(ctx, pos, 100)
	if err != nil {
		return 0, err
	}
	o.Metrics.DeliveryOutbox.WithLabelValues(r.Name()).Set(float64(depth))
	for i, c := range changes {
		if err := o.send(ctx, r, c); err != nil {
			return i, err
		}
		if _, err := o.DB.ExecContext(ctx, `INSERT INTO anomaly_deliveries VALUES (?, ?, ?)
ON CONFLICT (receiver) DO UPDATE SET seq = excluded.seq, delivered_at = excluded.delivered_at`, r.Name(), c.Seq, o.now()); err != nil {
			return i, fmt.Errorf("store the position of %s: %w", r.Name(), err)
		}
		o.Metrics.DeliveryOutbox.WithLabelValues(r.Name()).Set(float64(depth - i - 1))
		o.Metrics.DeliveryLastSuccess.WithLabelValues(r.Name()).Set(float64(o.now().UnixMilli()) / 1000)
	}
	return len(changes), nil
}

// send delivers c to r, trying again after a growing, jittered wait until
// it is accepted or ctx ends.
func (o *Outbox) send(ctx context.Context, r Receiver, c Change) error {
	wait := or(o.MinBackoff, time.Second)
	limit := or(o.MaxBackoff, 5*time.Minute)
	for attempt := 1; ; attempt++ {
		err := r.Send(ctx, c)
		if err == nil {
			o.Metrics.DeliveryAttempts.WithLabelValues(r.Name(), "ok").Inc()
			if attempt > 1 {
				o.Log.Info("anomaly delivered again", "receiver", r.Name(), "change", c.ID, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o.Metrics.DeliveryAttempts.WithLabelValues(r.Name(), "error").Inc()
		if attempt == 1 {
			o.Log.Warn("anomaly not delivered; trying again", "receiver", r.Name(), "change", c.ID, "err", err)
		}
		d := time.Duration(float64(wait) * (0.5 + 0.5*rand.Float64()))
		if err := o.sleep(ctx, d); err != nil {
			return err
		}
		wait = time.Duration(math.Min(float64(wait)*2, float64(limit)))
	}
}

// position is the last change r accepted (0 for none).
func (o *Outbox) position(ctx context.Context, receiver string) (int64, error) {
	var seq int64
	err := o.DB.QueryRowContext(ctx, `SELECT seq FROM anomaly_deliveries WHERE receiver = ?`, receiver).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the position of %s: %w", receiver, err)
	}
	return seq, nil
}

// after reads up to limit changes after seq, in order, with the anomaly as
// of each, and how many changes there are after seq in all.
func (o *Outbox) after(ctx context.Context, seq int64, limit int) ([]Change, int, error) {
	var depth int
	if err := o.DB.QueryRowContext(ctx, `SELECT count(*) FROM anomaly_changes WHERE seq > ?`, seq).Scan(&depth); err != nil {
		return nil, 0, fmt.Errorf("read the outbox: %w", err)
	}
	rows, err := o.DB.QueryContext(ctx, `SELECT c.seq, c.anomaly_id, c.version, c.change, c.status, c.observed, c.expected, c.changed_at,
  a.rule, a.subject, a.area_code, a.period_start, a.period_end, a.mode, a.severity, a.detail, a.opened_at,
  (SELECT count(*) FROM anomaly_records r WHERE r.anomaly_id = a.id)
FROM anomaly_changes c JOIN anomalies a ON a.id = c.anomaly_id
WHERE c.seq > ? ORDER BY c.seq LIMIT ?`, seq, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("read the outbox: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Change
	for rows.Next() {
		var c Change
		var change string
		var observed, expected sql.NullFloat64
		a := &c.Anomaly
		if err := rows.Scan(&c.Seq, &a.ID, &a.Version, &change, &a.Status, &observed, &expected, &c.At,
			&a.Rule, &a.Subject, &a.AreaCode, &a.PeriodStart, &a.PeriodEnd, &a.Mode, &a.Severity, &a.Detail, &a.OpenedAt, &a.Records); err != nil {
			return nil, 0, fmt.Errorf("read the outbox: %w", err)
		}
		if observed.Valid {
			a.Observed = &observed.Float64
		}
		if expected.Valid {
			a.Expected = &expected.Float64
		}
		c.ID = fmt.Sprintf("%s.%d", a.ID, a.Version)
		c.Type = "anomaly." + change
		out = append(out, c)
	}
	return out, depth, rows.Err()
}
