// Package layout is the repository's import rule, held by its test: every
// package has a layer, and a package imports only packages of lower layers
// (larger numbers), so that imports point one way — from the commands down
// to the schemas. The tools that stand in for a district (the simulator,
// the PostgreSQL starter, the demo's hand-overs, the benchmarks) are
// imported by the command and by tests only.
//
// A new package gets its line in Layers, with what it owns, or the test
// fails.
package layout

// Module is the module path that Layers' paths are relative to.
const Module = "github.com/yiwang-gov/yiwang"

// Layer is a package's place in the import order and what it owns.
type Layer struct {
	Rank int
	// Tool packages are imported only by the command, tests and other
	// tools.
	Tool bool
	Owns string
}

// Layers has every package of the module by its path under Module.
var Layers = map[string]Layer{
	"cmd/yiwang": {0, false, "the command line: flags, output, the roles started as processes"},

	"internal/bench":    {10, true, "benchmarks against the machine's limits: the loader, the API under load"},
	"internal/demo":     {10, true, "the demo's hand-overs besides the REST APIs: ledgers, the property database, the police topic"},
	"internal/simulate": {15, true, "the simulated district and its source systems"},
	"internal/pgserver": {15, true, "starting a PostgreSQL cluster from Debian's packages"},

	"pipelines": {20, false, "the pipeline file, its check, the connector registry, the roles and their lifecycle"},

	"internal/api":       {30, false, "the HTTP API: routes, tokens and their areas, limits, paging, streaming answers, the OpenAPI document"},
	"internal/dashboard": {35, false, "the dashboard page at /: HTML, script and styles, embedded, drawing SVG from the API"},

	"connectors/filedrop": {40, false, "the drop-folder connector: CSV/XLSX ledgers, limits, reports"},
	"connectors/httpapi":  {40, false, "the REST API connector"},
	"connectors/kafkain":  {40, false, "the connector of a platform's own Kafka topic"},
	"connectors/sqldb":    {40, false, "the SQL database connector"},

	"connectors":      {45, false, "the connector runner: cursors, validation, personal-data protection, replay"},
	"internal/loader": {45, false, "the effectively-once load of the record topics into the tables"},
	"queries":         {45, false, "the indicator and rule catalog, its runners, roll-ups, thresholds and tests, the scheduler, the area modes"},

	"internal/deliver": {40, false, "sending anomaly changes to their receivers from the outbox: signed webhooks, retries, positions"},
	"internal/detect":  {60, false, "the detectors: counts and rates judged against like-with-like baselines, as pure functions of a series"},
	"internal/anomaly": {48, false, "the anomalies rules flag: stable ids, open/update/resolve, the records behind them, the log of changes"},
	"internal/audit":   {48, false, "the audit log of reads of personal data: who asked what, how many rows, its retention"},

	"connectors/mapping": {50, false, "mapping a platform's own record shape to a schema's"},
	"internal/reference": {50, false, "the reference data: areas, responsibility units, the calendar, read from files into their tables"},

	"internal/deadletter": {60, false, "the dead-letter record: headers, scrubbing, cutting, reading back"},

	"internal/kafka":    {70, false, "all Kafka traffic (kafka-go) and the embedded broker (kfake, its patched copy in kfake/)"},
	"internal/store":    {70, false, "the DuckDB file: tables, batches with offsets, the admin SQL sandbox"},
	"internal/pii":      {70, false, "pseudonyms, masks and the scrubbing of personal data"},
	"internal/calendar": {70, false, "the official working-day calendar and working-time arithmetic"},
	"internal/metrics":  {70, false, "the Prometheus metrics every part reports to"},

	"schemas": {80, false, "the record schemas: validation, keys, versions, tables' columns"},

	"internal/diag": {85, false, "problems in a person's files: file:line:col and what to change, field errors"},

	"internal/layout": {90, false, "this rule"},
}
