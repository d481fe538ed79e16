package anomaly

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The kinds of feedback people give on an anomaly.
const (
	// FeedbackAck: seen, being looked into.
	FeedbackAck = "ack"
	// FeedbackFalsePositive: not an anomaly. It resolves, does not open
	// again for its period, and its period is left out of later baselines.
	FeedbackFalsePositive = "false_positive"
	// FeedbackIncident: a known incident (a burst pipe, a festival): real,
	// explained, and likewise left out of later baselines.
	FeedbackIncident = "incident"
)

// FeedbackKinds are the kinds of feedback.
var FeedbackKinds = []string{FeedbackAck, FeedbackFalsePositive, FeedbackIncident}

// ChangeFeedback is the kind of change a feedback makes in anomaly_changes.
const ChangeFeedback = "feedback"

// ErrNotFound means no anomaly has the id.
var ErrNotFound = errors.New("no such anomaly")

// Feedback is what one person said of one anomaly.
type Feedback struct {
	AnomalyID string    `json:"anomaly_id"`
	Kind      string    `json:"kind"`
	Who       string    `json:"who"`
	Why       string    `json:"why"`
	At        time.Time `json:"at"`
}

// Check says what is wrong with f before it is given, or nil.
func (f Feedback) Check() error {
	switch {
	case f.AnomalyID == "":
		return errors.New("feedback names no anomaly")
	case f.Kind != FeedbackAck && f.Kind != FeedbackFalsePositive && f.Kind != FeedbackIncident:
		return fmt.Errorf("feedback is ack, false_positive or incident, got %q", f.Kind)
	case f.Who == "" || len(f.Who) > 200:
		return errors.New(`say who gives the feedback ("who", at most 200 bytes)`)
	case len(f.Why) > 2000:
		return errors.New(`"why" is at most 2000 bytes`)
	}
	return nil
}

// Exists reports whether the anomaly id exists.
func Exists(ctx context.Context, db *sql.DB, id string) (bool, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM anomalies WHERE id = ?`, id).Scan(&n); err != nil {
		return false, fmt.Errorf("read anomaly %s: %w", id, err)
	}
	return n > 0, nil
}

// ApplyFeedback records f in tx: in the anomaly's history of feedback, as
// its latest feedback, and in its change log. A false positive that is
// open resolves. Feedback on an anomaly this database does not hold (yet)
// is kept and takes effect when it opens. Applying the same feedback twice
// (the same anomaly, kind, person and time) changes nothing.
func ApplyFeedback(ctx context.Context, tx *sql.Tx, f Feedback) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO anomaly_feedback VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, f.AnomalyID, f.Kind, f.Who, f.Why, f.At.UTC())
	if err != nil {
		return fmt.Errorf("record feedback on %s: %w", f.AnomalyID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return markFeedback(ctx, tx, f)
}

// markFeedback makes f the anomaly's latest feedback, if it holds the
// anomaly.
func markFeedback(ctx context.Context, tx *sql.Tx, f Feedback) error {
	var status string
	err := tx.QueryRowContext(ctx, `SELECT status FROM anomalies WHERE id = ?`, f.AnomalyID).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read anomaly %s: %w", f.AnomalyID, err)
	}
	newStatus := status
	if f.Kind == FeedbackFalsePositive {
		newStatus = StatusResolved
	}
	if _, err := tx.ExecContext(ctx, `UPDATE anomalies SET feedback = ?, feedback_by = ?, feedback_why = ?, feedback_at = ?, status = ?,
  resolved_at = CASE WHEN ? = 'resolved' AND status = 'open' THEN ? ELSE resolved_at END, version = version + 1, updated_at = ? WHERE id = ?`,
		f.Kind, f.Who, f.Why, f.At, newStatus, newStatus, f.At, f.At, f.AnomalyID); err != nil {
		return fmt.Errorf("record feedback on %s: %w", f.AnomalyID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO anomaly_changes (anomaly_id, version, change, status, observed, expected, changed_at, run_id)
SELECT id, version, ?, status, observed, expected, ?, ? FROM anomalies WHERE id = ?`, ChangeFeedback, f.At, "feedback/"+f.Kind, f.AnomalyID); err != nil {
		return fmt.Errorf("log the feedback on %s: %w", f.AnomalyID, err)
	}
	return nil
}

// Excluded is the SQL of the periods left out of baselines: the rules,
// areas and periods of the anomalies marked false positives or known
// incidents, as (rule, area_code, period_start, period_end) rows.
const Excluded = `SELECT rule, area_code, period_start, period_end FROM anomalies WHERE feedback IN ('false_positive', 'incident')`

// pendingFeedback applies to the anomaly id, just opened, the feedback
// given on it before this database held it (another replica's).
func pendingFeedback(ctx context.Context, tx *sql.Tx, id string) error {
	rows, err := tx.QueryContext(ctx, `SELECT kind, who, coalesce(why, ''), given_at FROM anomaly_feedback WHERE anomaly_id = ? ORDER BY given_at`, id)
	if err != nil {
		return fmt.Errorf("read feedback on %s: %w", id, err)
	}
	var fs []Feedback
	for rows.Next() {
		f := Feedback{AnomalyID: id}
		if err := rows.Scan(&f.Kind, &f.Who, &f.Why, &f.At); err != nil {
			_ = rows.Close()
			return fmt.Errorf("read feedback on %s: %w", id, err)
		}
		fs = append(fs, f)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, f := range fs {
		if err := markFeedback(ctx, tx, f); err != nil {
			return err
		}
	}
	return nil
}
