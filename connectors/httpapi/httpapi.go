// Package httpapi polls a source system's REST endpoint incrementally.
//
// The cursor is the pair (updated_at, id) of the last record delivered. Each
// poll asks for records strictly after it, so records sharing a timestamp
// are never skipped, and a record updated in place comes back with its new
// timestamp. Pages are followed while the server says more are waiting.
// Transient failures (network errors, 5xx, 429) are retried with capped
// exponential backoff and full jitter, honouring Retry-After; other 4xx
// answers fail the poll at once, since retrying cannot fix them.
//
// The package exports no metrics of its own; the runner counts polls.
package httpapi

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/internal/diag"
)

//go:embed sample.yaml
var SampleConfig string

// Config configures one endpoint. The zero value of every optional field
// means its default.
type Config struct {
	// URL of the collection, e.g. https://grid.example/api/grid/grid_event.
	URL string `yaml:"url"`
	// TokenEnv names the environment variable holding the bearer token
	// sent as "Authorization: Bearer <token>". Secrets never live in files.
	TokenEnv string `yaml:"token_env"`
	// PageSize is the limit asked per request (default 1000).
	PageSize int `yaml:"page_size"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxRetries of one request before the poll fails (default 5).
	MaxRetries int `yaml:"max_retries"`
	// BackoffMin and BackoffMax bound the retry delay (defaults 200ms, 30s).
	BackoffMin time.Duration `yaml:"backoff_min"`
	BackoffMax time.Duration `yaml:"backoff_max"`
	// ItemsField and MoreField name the response's record array and
	// has-more flag (defaults "data", "has_more").
	ItemsField string `yaml:"items_field"`
	MoreField  string `yaml:"more_field"`
	// UpdatedField and IDField name the record fields of the cursor
	// (defaults "updated_at" and the schema's key).
	UpdatedField string `yaml:"updated_field"`
	IDField      string `yaml:"id_field"`
	// SinceParam, AfterParam and LimitParam name the query parameters
	// (defaults "updated_since", "after_id", "limit").
	SinceParam string `yaml:"since_param"`
	AfterParam string `yaml:"after_param"`
	LimitParam string `yaml:"limit_param"`
}

// FieldError is one problem with a Config field.
type FieldError = diag.FieldError

// Validate reports every problem, naming the field and what to change.
func (c *Config) Validate() []FieldError {
	var out []FieldError
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		out = append(out, FieldError{Field: "url", Msg: "is required: the endpoint to poll"})
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		out = append(out, FieldError{Field: "url", Msg: fmt.Sprintf("must be an absolute http(s) URL, got %q", c.URL)})
	}
	if c.PageSize < 0 || c.PageSize > 100000 {
		out = append(out, FieldError{Field: "page_size", Msg: fmt.Sprintf("must be 1-100000, got %d", c.PageSize)})
	}
	if c.Timeout < 0 {
		out = append(out, FieldError{Field: "timeout", Msg: fmt.Sprintf("must be > 0, got %q", c.Timeout)})
	}
	if c.BackoffMax != 0 && c.BackoffMin > c.BackoffMax {
		out = append(out, FieldError{Field: "backoff_min", Msg: "must not exceed backoff_max"})
	}
	return out
}

func (c *Config) defaults(idField string) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	if c.PageSize == 0 {
		c.PageSize = 1000
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 5
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = 200 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 30 * time.Second
	}
	def(&c.ItemsField, "data")
	def(&c.MoreField, "has_more")
	def(&c.UpdatedField, "updated_at")
	def(&c.IDField, idField)
	def(&c.SinceParam, "updated_since")
	def(&c.AfterParam, "after_id")
	def(&c.LimitParam, "limit")
}

// Source polls one endpoint.
type Source struct {
	cfg    Config
	token  string
	client *http.Client
}

var _ connectors.Source = (*Source)(nil)

// New returns a source for cfg; idField is the default cursor id field (the
// schema's key). It fails when cfg.TokenEnv names an unset variable.
func New(cfg Config, idField string) (*Source, error) {
	cfg.defaults(idField)
	s := &Source{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}}
	if cfg.TokenEnv != "" {
		t, ok := os.LookupEnv(cfg.TokenEnv)
		if !ok || t == "" {
			return nil, fmt.Errorf("token_env %s is not set: export the source's token in it", cfg.TokenEnv)
		}
		s.token = t
	}
	return s, nil
}

// Cursor is the position after one record.
type Cursor struct {
	UpdatedAt string `json:"t"`
	ID        string `json:"id"`
}

// ParseCursor decodes a cursor string; "" is the beginning.
func ParseCursor(s string) (Cursor, error) {
	var c Cursor
	if s == "" {
		return c, nil
	}
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return c, fmt.Errorf("decode cursor %q: %w", s, err)
	}
	if c.UpdatedAt != "" {
		if _, err := time.Parse(time.RFC3339Nano, c.UpdatedAt); err != nil {
			return c, fmt.Errorf("cursor time %q: %w", c.UpdatedAt, err)
		}
	}
	return c, nil
}

func (c Cursor) String() string {
	if c == (Cursor{}) {
		return ""
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// Poll fetches one page after cursor.
func (s *Source) Poll(ctx context.Context, cursor string) ([]connectors.Record, bool, error) {
	cur, err := ParseCursor(cursor)
	if err != nil {
		return nil, false, err
	}
	u, err := url.Parse(s.cfg.URL)
	if err != nil {
		return nil, false, fmt.Errorf("parse url: %w", err)
	}
	q := u.Query()
	if cur.UpdatedAt != "" {
		q.Set(s.cfg.SinceParam, cur.UpdatedAt)
		q.Set(s.cfg.AfterParam, cur.ID)
	}
	q.Set(s.cfg.LimitParam, strconv.Itoa(s.cfg.PageSize))
	u.RawQuery = q.Encode()
	body, err := s.get(ctx, u.String())
	if err != nil {
		return nil, false, err
	}
	var page map[string]json.RawMessage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, false, fmt.Errorf("decode response of %s: %w", s.cfg.URL, err)
	}
	var items []json.RawMessage
	if raw, ok := page[s.cfg.ItemsField]; ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, false, fmt.Errorf("response field %q of %s is not an array: %w", s.cfg.ItemsField, s.cfg.URL, err)
		}
	} else {
		return nil, false, fmt.Errorf("response of %s has no field %q (set items_field)", s.cfg.URL, s.cfg.ItemsField)
	}
	var more bool
	if raw, ok := page[s.cfg.MoreField]; ok {
		_ = json.Unmarshal(raw, &more)
	}
	recs := make([]connectors.Record, 0, len(items))
	for i, it := range items {
		pos := fmt.Sprintf("%s?%s=%s&%s=%s#%d", s.cfg.URL, s.cfg.SinceParam, cur.UpdatedAt, s.cfg.AfterParam, cur.ID, i)
		if c, ok := s.cursorOf(it); ok {
			cur = c
		}
		recs = append(recs, connectors.Record{Raw: bytes.Clone(it), Cursor: cur.String(), Position: pos})
	}
	return recs, more && len(items) > 0, nil
}

// cursorOf reads (updated_at, id) of one record; a record lacking them (a
// malformed one) leaves the cursor where it was.
func (s *Source) cursorOf(raw json.RawMessage) (Cursor, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return Cursor{}, false
	}
	var t, id string
	if json.Unmarshal(obj[s.cfg.UpdatedField], &t) != nil || json.Unmarshal(obj[s.cfg.IDField], &id) != nil || id == "" {
		return Cursor{}, false
	}
	if _, err := time.Parse(time.RFC3339Nano, t); err != nil {
		return Cursor{}, false
	}
	return Cursor{UpdatedAt: t, ID: id}, true
}

// StatusError is a non-2xx answer.
type StatusError struct {
	URL        string
	Code       int
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Code)
}

func (s *Source) get(ctx context.Context, u string) ([]byte, error) {
	var last error
	for attempt := 0; attempt <= s.cfg.MaxRetries; attempt++ {
		if attempt > 0 {
			d := s.delay(attempt, last)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		body, err := s.once(ctx, u)
		if err == nil {
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var se *StatusError
		if errors.As(err, &se) && se.Code != http.StatusTooManyRequests && se.Code < 500 {
			return nil, err // 4xx: retrying cannot help
		}
		last = err
	}
	return nil, fmt.Errorf("after %d attempts: %w", s.cfg.MaxRetries+1, last)
}

// delay is capped exponential backoff with full jitter, or the server's
// Retry-After when it asks for longer (still capped).
func (s *Source) delay(attempt int, last error) time.Duration {
	d := s.cfg.BackoffMin << min(attempt-1, 20)
	if d > s.cfg.BackoffMax || d <= 0 {
		d = s.cfg.BackoffMax
	}
	d = rand.N(d + 1)
	var se *StatusError
	if errors.As(last, &se) && se.RetryAfter > d {
		d = min(se.RetryAfter, s.cfg.BackoffMax)
	}
	return d
}

func (s *Source) once(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("read body of %s: %w", s.cfg.URL, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &StatusError{URL: s.cfg.URL, Code: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return body, nil
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
