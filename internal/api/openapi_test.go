package api

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

func openAPIValidator(t *testing.T) (libopenapi.Document, validator.Validator) {
	t.Helper()
	doc, err := libopenapi.NewDocument(openAPIJSON)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	return doc, v
}

// TestOpenAPIDocumentValidates: the served document is a valid OpenAPI
// 3.1 document (against the specification's own schema).
func TestOpenAPIDocumentValidates(t *testing.T) {
	_, v := openAPIValidator(t)
	if ok, errs := v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  %s at %s (line %d)", se.Reason, se.KeywordLocation, se.Line)
			}
		}
	}
}

// TestOpenAPIMatchesRoutes: every route the server serves is in the
// document, and every operation of the document is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc, _ := openAPIValidator(t)
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	served := server(t, Config{AdminToken: "tok"}).Config.Handler.(*routedHandler).routes
	slices.Sort(documented)
	slices.Sort(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is served but not in the document", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("%s is in the document but not served", r)
		}
	}
}

// TestOpenAPIAnswersValidate: the real answers of the routes — lists,
// single items, trees, CSV, errors of each kind — validate against the
// document's schemas for their route and status.
func TestOpenAPIAnswersValidate(t *testing.T) {
	_, v := openAPIValidator(t)
	ts, _, ids := matrixServer(t)
	admin, viewer := matrixSecret("district", RoleAdmin), matrixSecret("street", RoleViewer)
	var anyID string
	for _, id := range ids {
		anyID = id
		break
	}
	for _, c := range []struct {
		method, path, token, body string
		code                      int
	}{
		{"GET", "/healthz", "", "", 200},
		{"GET", "/readyz", "", "", 200},
		{"GET", "/api/v1/openapi.json", viewer, "", 200},
		{"GET", "/api/v1/tables", viewer, "", 200},
		{"GET", "/api/v1/whoami", viewer, "", 200},
		{"GET", "/api/v1/catalog", viewer, "", 200},
		{"GET", "/api/v1/indicators?limit=5", viewer, "", 200},
		{"GET", "/api/v1/indicators?limit=5&format=csv", viewer, "", 200},
		{"GET", "/api/v1/indicators?limit=5&format=arrow", viewer, "", 200},
		{"GET", "/api/v1/indicators?limit=0", viewer, "", 400},
		{"GET", "/api/v1/indicators", "", "", 401},
		{"GET", "/api/v1/modes", viewer, "", 200},
		{"POST", "/api/v1/modes", matrixSecret("street", RoleOperator), `{"area":"220173002001","mode":"emergency","reason":"flood"}`, 200},
		{"POST", "/api/v1/modes", viewer, `{"area":"220173002001","mode":"emergency"}`, 403},
		{"GET", "/api/v1/areas", viewer, "", 200},
		{"GET", "/api/v1/anomalies?status=open&limit=2", viewer, "", 200},
		{"GET", "/api/v1/anomalies/" + anyID, admin, "", 200},
		{"POST", "/api/v1/anomalies/" + anyID + "/ack", admin, `{"why":"seen"}`, 200},
		{"POST", "/api/v1/anomalies/nosuch/ack", admin, `{"why":"seen"}`, 404},
		{"GET", "/api/v1/doorknock/missing?target=household&at=2026-11-30", viewer, "", 200},
		{"GET", "/api/v1/emergencies/archive?from=2026-11-01&to=2026-11-30", viewer, "", 200},
		{"GET", "/api/v1/forces/teams?month=2026-11", viewer, "", 200},
		{"GET", "/api/v1/forces/members?team=T220173002001", viewer, "", 200},
		{"GET", "/api/v1/forces/members", viewer, "", 400},
		{"GET", "/api/v1/audit?limit=3", admin, "", 200},
		{"GET", "/api/v1/audit", viewer, "", 403},
		{"GET", "/api/v1/files", admin, "", 200},
		{"POST", "/api/v1/sql", admin, `{"sql":"select 1 as n"}`, 200},
		{"POST", "/api/v1/sql", admin, `{"sql":"drop table areas"}`, 400},
	} {
		request := func(base string) *http.Request {
			req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			if c.method == "POST" {
				req.Header.Set("Content-Type", "application/json")
			}
			return req
		}
		resp, err := http.DefaultClient.Do(request(ts.URL))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s %s: HTTP %d %s, want %d", c.method, c.path, resp.StatusCode, body, c.code)
			continue
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		req := request("http://yiwang")
		ok, errs := v.GetResponseBodyValidator().ValidateResponseBody(req, resp)
		if c.code < 300 { // a refused request is refused by the document too
			ok, errs = v.ValidateHttpRequestResponse(req, resp)
		}
		if !ok {
			for _, e := range errs {
				t.Errorf("%s %s (HTTP %d): %s: %s %v", c.method, c.path, c.code, e.Message, e.Reason, e.SchemaValidationErrors)
			}
		}
	}
}
