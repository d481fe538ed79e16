package api

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"sync"
)

// flights lets identical public requests that arrive while one of them is
// being answered share its answer: dashboards poll the same few URLs, and
// two hundred of them asking for one page cost one query, not two hundred.
// An answer is shared only with requests that arrived before it was
// complete, so nothing is served staler than a query already running.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done    chan struct{}
	waiters int // requests sharing it, guarded by flights.mu
	status  int
	header  http.Header
	body    []byte
}

// key is the request's canonical form: path, sorted query and the CSV
// preference.
func flightKey(r *http.Request) string {
	q := r.URL.Query()
	csv := q.Get("format") == "csv" || bytes.Contains([]byte(r.Header.Get("Accept")), []byte("text/csv"))
	q.Del("format")
	k := r.URL.Path + "?" + url.Values(q).Encode()
	if csv {
		k += "#csv"
	}
	return k
}

// do answers r with h's answer, computed once for every identical request
// in flight. h writes into a buffer (its answer is a bounded page).
func (f *flights) do(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	key := flightKey(r)
	f.mu.Lock()
	if f.m == nil {
		f.m = map[string]*flight{}
	}
	if fl, ok := f.m[key]; ok {
		fl.waiters++
		f.mu.Unlock()
		select {
		case <-fl.done:
			fl.replay(w)
		case <-r.Context().Done():
		}
		return
	}
	fl := &flight{done: make(chan struct{})}
	f.m[key] = fl
	f.mu.Unlock()

	rec := &bufferedResponse{header: http.Header{}}
	func() {
		defer func() {
			f.mu.Lock()
			delete(f.m, key)
			f.mu.Unlock()
			fl.status, fl.header, fl.body = rec.code(), rec.header, rec.buf.Bytes()
			close(fl.done)
		}()
		// The answer is shared: a leader whose client leaves must not
		// cancel it for the others. Its queries keep their own timeouts.
		h(rec, r.WithContext(context.WithoutCancel(r.Context())))
	}()
	fl.replay(w)
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
