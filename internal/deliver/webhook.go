package deliver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook sends changes as Standard Webhooks (standardwebhooks.com): a
// POST of the JSON payload with the headers webhook-id (the change's id,
// the same on every attempt), webhook-timestamp (Unix seconds of the
// attempt) and webhook-signature ("v1," and the base64 HMAC-SHA256 of
// "id.timestamp.body" under the secret). A 2xx answer accepts the change;
// anything else, or no answer within Timeout, is an error.
type Webhook struct {
	Receiver string // its name in metrics and positions
	URL      string
	key      []byte
	// Client sends the requests (default: one with Timeout).
	Client *http.Client
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
	// Now stamps the attempts (default: the wall clock).
	Now func() time.Time
}

// NewWebhook returns the receiver named name at url, signing with secret,
// which is "whsec_" followed by the base64 of the key.
func NewWebhook(name, url, secret string) (*Webhook, error) {
	key, err := ParseSecret(secret)
	if err != nil {
		return nil, err
	}
	return &Webhook{Receiver: name, URL: url, key: key}, nil
}

// ParseSecret decodes a "whsec_..." secret into its key.
func ParseSecret(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, errors.New(`a webhook secret starts with "whsec_" and goes on with the base64 of at least 24 random bytes`)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("a webhook secret is whsec_ and base64: %w", err)
	}
	if len(key) < 24 {
		return nil, fmt.Errorf("a webhook secret's key has %d bytes; use at least 24 random bytes", len(key))
	}
	return key, nil
}

// Sign returns the webhook-signature of body sent as id at ts under key.
func Sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, ts)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Name is the receiver's name.
func (w *Webhook) Name() string { return w.Receiver }

// Send posts c, signed.
func (w *Webhook) Send(ctx context.Context, c Change) error {
	body, err := c.Payload()
	if err != nil {
		return err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := now().Unix()
	if err := post(ctx, w.Client, w.Timeout, w.URL, body, map[string]string{"webhook-id": c.ID,
		"webhook-timestamp": strconv.FormatInt(ts, 10), "webhook-signature": Sign(w.key, c.ID, ts, body)}); err != nil {
		return fmt.Errorf("post %s: %w", c.ID, err)
	}
	return nil
}

// post sends body as JSON to url with the headers, within timeout (10 s
// when 0), and says what went wrong: no answer, or an answer other than
// 2xx with the start of its body.
func post(ctx context.Context, client *http.Client, timeout time.Duration, url string, body []byte, headers map[string]string) error {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}
