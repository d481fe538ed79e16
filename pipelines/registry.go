package pipelines

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/connectors/filedrop"
	"github.com/yiwang-gov/yiwang/connectors/httpapi"
	"github.com/yiwang-gov/yiwang/connectors/kafkain"
	"github.com/yiwang-gov/yiwang/connectors/sqldb"
	"github.com/yiwang-gov/yiwang/schemas"
)

// connectorType is one connector a source may use: the one place that
// ties its type name to its block of the pipeline file, its checks and
// its construction. A new connector is a folder under connectors/ and a
// line here.
type connectorType struct {
	name  string // the source's type:, and its folder under connectors/
	block string // the key of its block, e.g. "http:"
	// present says whether s has the block.
	present func(s *SourceConfig) bool
	// check returns the block's own problems (s has the block).
	check func(s *SourceConfig) []fieldError
	// needsMap: the source delivers its platform's own shape, so a map:
	// block must say how it becomes the schema's.
	needsMap bool
	// build makes the source of s.
	build func(s SourceConfig, sc *schemas.Schema, env buildEnv) (connectors.Source, error)
}

// buildEnv is what a connector may need from the running pipeline.
type buildEnv struct {
	brokers []string // the pipeline's own cluster
	log     *slog.Logger
}

var connectorTypes = []connectorType{
	{name: "httpapi", block: "http",
		present: func(s *SourceConfig) bool { return s.HTTP != nil },
		check:   func(s *SourceConfig) []fieldError { return s.HTTP.Validate() },
		build: func(s SourceConfig, sc *schemas.Schema, _ buildEnv) (connectors.Source, error) {
			return httpapi.New(*s.HTTP, sc.Key[0])
		}},
	{name: "sqldb", block: "sql",
		present: func(s *SourceConfig) bool { return s.SQL != nil },
		check:   func(s *SourceConfig) []fieldError { return s.SQL.Validate() },
		build: func(s SourceConfig, sc *schemas.Schema, _ buildEnv) (connectors.Source, error) {
			return sqldb.New(*s.SQL, sc.Key[0])
		}},
	{name: "filedrop", block: "file",
		present: func(s *SourceConfig) bool { return s.File != nil },
		check:   func(s *SourceConfig) []fieldError { return s.File.Validate() },
		build: func(s SourceConfig, sc *schemas.Schema, env buildEnv) (connectors.Source, error) {
			src, err := filedrop.New(*s.File, sc)
			if err != nil {
				return nil, err
			}
			src.Log = env.log
			return src, nil
		}},
	{name: "kafkain", block: "kafka", needsMap: true,
		present: func(s *SourceConfig) bool { return s.Kafka != nil },
		check:   func(s *SourceConfig) []fieldError { return s.Kafka.Validate() },
		build: func(s SourceConfig, _ *schemas.Schema, env buildEnv) (connectors.Source, error) {
			src, err := kafkain.New(*s.Kafka, env.brokers)
			if err != nil {
				return nil, err
			}
			src.Log = env.log
			return src, nil
		}},
}

// ConnectorTypes returns the connector types a source may use.
func ConnectorTypes() []string {
	out := make([]string, len(connectorTypes))
	for i, t := range connectorTypes {
		out[i] = t.name
	}
	return out
}

func connectorTypeOf(name string) (connectorType, bool) {
	for _, t := range connectorTypes {
		if t.name == name {
			return t, true
		}
	}
	return connectorType{}, false
}

// checkSource reports the problems of source i's connector block, and
// resolves a drop folder relative to the pipeline file.
func (c *Config) checkSource(i int) Problems {
	s := &c.Sources[i]
	t, ok := connectorTypeOf(s.Type)
	if !ok {
		return Problems{c.problem(fmt.Sprintf("unknown connector type %q; known: %s", s.Type, strings.Join(ConnectorTypes(), ", ")), "sources", i, "type")}
	}
	if !t.present(s) {
		article := "a"
		if t.block == "http" {
			article = "an"
		}
		return Problems{c.problem(fmt.Sprintf("type %s needs %s %q block", s.Type, article, t.block+":"), "sources", i)}
	}
	var probs Problems
	for _, e := range t.check(s) {
		probs = append(probs, c.problem(e.Msg, fieldPath(i, t.block, e.Field)...))
	}
	if t.needsMap && s.Map == nil {
		probs = append(probs, c.problem(fmt.Sprintf(`type %s needs a "map:" block: how the platform's records become the schema's fields`, t.name), "sources", i))
	}
	if s.File != nil && s.File.Dir != "" && !filepath.IsAbs(s.File.Dir) && c.dir != "embedded:" {
		s.File.Dir = filepath.Join(c.dir, s.File.Dir)
	}
	return probs
}
