package api

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// openAPIYAML is the API's OpenAPI 3.1 document, written by hand next to
// the handlers and held to them by TestOpenAPIMatchesRoutes.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIJSON is the document as GET /api/v1/openapi.json serves it.
var openAPIJSON = mustJSON(openAPIYAML)

func mustJSON(y []byte) []byte {
	var doc any
	if err := yaml.Unmarshal(y, &doc); err != nil {
		panic(fmt.Sprintf("openapi.yaml: %v", err))
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("openapi.yaml as JSON: %v", err))
	}
	return b
}
