package simulate

import (
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Query-parameter limits of the record endpoints.
const (
	DefaultLimit = 500  // records per page when limit is absent
	MaxLimit     = 5000 // larger limits are cut to this
)

// Handler returns the REST API of the four platforms:
//
//	GET /api/health                    200 {"status":"ok"}, never authenticated
//	GET /api/{platform}/{record}       a page of records
//
// where platform/record is grid/grid_event, grid/door_visit,
// grid/household, grid/team_record, police/police_incident, market/store,
// market/market_entity, market/market_inspection or property/work_order.
//
// A page holds the current version of every record whose (updated_at, id)
// is strictly after (updated_since, after_id), ordered by updated_at (as an
// instant) and then id (as a string), at most limit of them:
//
//	{"data":[{...},...],"has_more":true}
//
// updated_since is an RFC 3339 date-time; absent, the page starts at the
// beginning and after_id must be absent too. limit defaults to 500 and is cut
// to 5000. A record updated after a client read it reappears later in the
// order with its new updated_at, as a table updated in place does; a record
// written after a response is always stamped later than anything that
// response returned, so a client that resumes from the last (updated_at, id)
// it received misses nothing. Invalid records are served like valid ones.
//
// Errors are JSON {"error":"..."}: 400 for a bad parameter (unknown or
// repeated names too), 401 when Config.Token is set and the request lacks
// "Authorization: Bearer <token>", 404 for an unknown platform or record,
// and 503 with "Retry-After: 1" on every Config.FailEvery-th data request.
// A record type left out of Config.HTTPTypes answers 404 too.
//
// GET /simulator/plants answers the ledger of planted anomalies (Plants) as
// JSON; it is the simulator's, not a source system's.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, _ *http.Request) {
		writeBody(w, http.StatusOK, []byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /api/{platform}/{record}", s.serveRecords)
	// The ledger of planted anomalies, for the tests and benchmarks that
	// score detectors: the simulator's own, never polled by a connector.
	mux.HandleFunc("GET /simulator/plants", func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		b, err := json.Marshal(s.Plants())
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeBody(w, http.StatusOK, b)
	})
	return mux
}

func (s *Simulator) serveRecords(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="yiwang-simulate"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	if n := s.cfg.FailEvery; n > 0 && s.requests.Add(1)%int64(n) == 0 {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "source system temporarily unavailable (injected fault)")
		return
	}
	k, ok := s.kindAt(r.PathValue("platform"), r.PathValue("record"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no record type %q on platform %q", r.PathValue("record"), r.PathValue("platform")))
		return
	}
	if !s.http[k] {
		writeError(w, http.StatusNotFound, fmt.Sprintf("record type %q is not served over HTTP here (Config.HTTPTypes): it is published by another transport", s.kinds[k].name))
		return
	}
	q, err := parseCursorQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	raws, more, lastTS, err := s.tables[k].page(q.cursor(), q.limit)
	if len(raws) > 0 && lastTS > s.served {
		s.served = lastTS
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	// The raw records are never modified once stored, so they are written
	// outside the lock.
	size := 32
	for _, raw := range raws {
		size += len(raw) + 1
	}
	body := make([]byte, 0, size)
	body = append(body, `{"data":[`...)
	for i, raw := range raws {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, raw...)
	}
	body = append(body, `],"has_more":`...)
	body = strconv.AppendBool(body, more)
	body = append(body, '}')
	writeBody(w, http.StatusOK, body)
}

func (s *Simulator) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	want := []byte("Bearer " + s.cfg.Token)
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) == 1
}

func (s *Simulator) kindAt(platform, record string) (kind, bool) {
	for k, info := range s.kinds {
		if info.platform == platform && info.name == record {
			return kind(k), true
		}
	}
	return 0, false
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client that went away is not our error
}

func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"error": msg}) // a string map always encodes
	writeBody(w, status, body)
}

// cursorQuery is the parsed query of a record request.
type cursorQuery struct {
	since    time.Time
	hasSince bool
	afterID  string
	limit    int
}

// parseCursorQuery parses the raw query string of a record request:
// updated_since (RFC 3339), after_id (needs updated_since) and limit
// (1 or more; default DefaultLimit, cut to MaxLimit). Unknown and repeated
// parameters are errors, so that a misspelt name cannot silently restart a
// client from the beginning.
func parseCursorQuery(raw string) (cursorQuery, error) {
	q := cursorQuery{limit: DefaultLimit}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return q, fmt.Errorf("malformed query string: %w", err)
	}
	var errs []error
	for name, vs := range vals {
		switch name {
		case "updated_since", "after_id", "limit":
			if len(vs) > 1 {
				errs = append(errs, fmt.Errorf("%s: given %d times, give it once", name, len(vs)))
			}
		default:
			errs = append(errs, fmt.Errorf("unknown parameter %q (want updated_since, after_id, limit)", name))
		}
	}
	if vs, ok := vals["updated_since"]; ok {
		t, err := time.Parse(time.RFC3339Nano, vs[0])
		if err != nil {
			errs = append(errs, fmt.Errorf("updated_since: want an RFC 3339 date-time such as 2026-03-01T08:00:00.000000Z, got %q", vs[0]))
		} else {
			q.since, q.hasSince = t, true
		}
	}
	if vs, ok := vals["after_id"]; ok {
		q.afterID = vs[0]
		if _, since := vals["updated_since"]; !since {
			errs = append(errs, errors.New("after_id: needs updated_since (the cursor is the pair)"))
		}
	}
	if vs, ok := vals["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("limit: want a whole number, got %q", vs[0]))
		case n < 1:
			errs = append(errs, fmt.Errorf("limit: must be at least 1, got %d", n))
		default:
			q.limit = min(n, MaxLimit)
		}
	}
	if len(errs) > 0 {
		// Sorted, so that the message does not depend on map order.
		slices.SortFunc(errs, func(a, b error) int { return cmp.Compare(a.Error(), b.Error()) })
		return cursorQuery{}, errors.Join(errs...)
	}
	return q, nil
}

// cursor converts the query to a log position. An updated_since with digits
// below the microsecond lies between two stored timestamps, so every record
// at the microsecond below it counts as passed.
func (q cursorQuery) cursor() cursor {
	if !q.hasSince {
		return start()
	}
	floor := q.since.Truncate(time.Microsecond)
	return cursor{ts: floor.UnixMicro(), id: q.afterID, allAtTS: q.since.After(floor)}
}
