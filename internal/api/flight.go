package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// flights lets identical public requests that arrive while one of them is
// being answered share its answer: dashboards poll the same few URLs, and
// two hundred of them asking for one page cost one query, not two hundred.
// An answer is shared only with requests that arrived before it was
// complete, so nothing is served staler than a query already running.
//
// A shared answer is buffered, to be sent to each of its requests; at most
// buffers of them are held at once (each within a page's byte cap), so a
// crowd of slow readers cannot pile answers up in memory. The work goes on
// while any of its requests waits — its first client leaving does not stop
// it for the others — and is cancelled when all have left.
type flights struct {
	mu      sync.Mutex
	m       map[string]*flight
	buffers *limiter
	params  []string // the query parameters that make a request different
}

type flight struct {
	done   chan struct{}
	refs   int // requests still to be answered from it, guarded by flights.mu
	cancel context.CancelFunc
	status int
	header http.Header
	body   []byte
}

// newFlights shares answers of requests that differ only outside params,
// holding at most buffers answers at once.
func newFlights(buffers int, params ...string) *flights {
	return &flights{buffers: newLimiter(buffers, busyWait), params: params}
}

// flightKey is the request's canonical form: path, the known parameters
// in order, the CSV preference and the reader's scope. Parameters the handler does not read
// (a cache-buster) do not make two requests different.
func (f *flights) flightKey(r *http.Request) string {
	q := r.URL.Query()
	var b strings.Builder
	b.WriteString(r.URL.Path)
	for _, p := range f.params {
		if v, ok := q[p]; ok {
			fmt.Fprintf(&b, "&%s=%s", p, url.QueryEscape(strings.Join(v, "\x00")))
		}
	}
	switch {
	case wantsArrow(r):
		b.WriteString("#arrow")
	case q.Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv"):
		b.WriteString("#csv")
	}
	if p := who(r); p != nil { // an answer is shared only within one scope
		b.WriteString("#scope=" + p.scope.Key())
	}
	return b.String()
}

// do answers r with h's answer, computed once, within one of slots, for
// every identical request in flight.
func (f *flights) do(w http.ResponseWriter, r *http.Request, slots *limiter, h http.HandlerFunc) {
	key := f.flightKey(r)
	f.mu.Lock()
	if f.m == nil {
		f.m = map[string]*flight{}
	}
	if fl, ok := f.m[key]; ok {
		fl.refs++
		f.mu.Unlock()
		select {
		case <-fl.done:
			fl.replay(w)
		case <-r.Context().Done():
		}
		f.release(fl)
		return
	}
	// The answer is shared: a leader whose client leaves must not cancel
	// it for the others. It is cancelled when no request waits for it.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	fl := &flight{done: make(chan struct{}), refs: 1, cancel: cancel}
	f.m[key] = fl
	f.mu.Unlock()
	stop := context.AfterFunc(r.Context(), func() { f.release(fl) })

	rec := &bufferedResponse{header: http.Header{}}
	buffered := f.run(rec, r.WithContext(ctx), slots, h)
	f.mu.Lock()
	delete(f.m, key)
	fl.status, fl.header, fl.body = rec.code(), rec.header, rec.buf.Bytes()
	close(fl.done)
	free := func() {}
	if buffered {
		free = func() { <-f.buffers.slots }
	}
	// From now on the last request answered gives the buffer back; when
	// every one has left already, it goes back now.
	fl.cancel = func() { cancel(); free() }
	idle := fl.refs == 0
	f.mu.Unlock()
	if idle {
		fl.cancel()
	}
	if stop() { // the leader's client is still there
		fl.replay(w)
		f.release(fl)
	}
}

// run computes the answer into rec: a buffer, then a slot, then h. It
// reports whether it holds a buffer.
func (f *flights) run(rec *bufferedResponse, r *http.Request, slots *limiter, h http.HandlerFunc) bool {
	if !f.buffers.acquire(r.Context()) {
		busy(rec, r, f.buffers, errors.New("answers waiting to be sent"))
		return false
	}
	slots.wrap(h)(rec, r)
	return true
}

// release drops one request's hold on fl; the last one cancels its work
// (if it still runs) and gives back its buffer (if it is done).
func (f *flights) release(fl *flight) {
	f.mu.Lock()
	fl.refs--
	last := fl.refs == 0
	cancel := fl.cancel
	f.mu.Unlock()
	if last {
		cancel()
	}
}

func (fl *flight) replay(w http.ResponseWriter) {
	for k, v := range fl.header {
		if k != "Trailer" { // a trailer set after the body is a header now
			w.Header()[k] = v
		}
	}
	w.WriteHeader(fl.status)
	_, _ = w.Write(fl.body)
}

// bufferedResponse keeps an answer to send later.
type bufferedResponse struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.buf.Write(p)
}
func (b *bufferedResponse) code() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}
