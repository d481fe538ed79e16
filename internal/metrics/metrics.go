// Package metrics defines every Prometheus metric yiwang exports, on an
// injected registry.
//
// Connectors:
//
//	yiwang_connector_records_total{source,outcome}           records polled: produced | deadletter
//	yiwang_connector_polls_total{source,outcome}             polls: ok | error
//	yiwang_connector_last_poll_timestamp_seconds{source}     last successful poll, even when nothing was new (heartbeat)
//	yiwang_connector_last_produce_timestamp_seconds{source}  last time records were acknowledged by Kafka
//	yiwang_source_newest_event_timestamp_seconds{source}     newest event time a source delivered (freshness)
//
// Loader:
//
//	yiwang_loader_records_total{table,outcome}               records consumed: loaded | deadletter | duplicate_in_batch
//	yiwang_loader_batches_total{outcome}                     batches: committed | failed
//	yiwang_loader_batch_duration_seconds                     time to commit a batch to DuckDB
//	yiwang_loader_lag_records{topic,partition}               records behind the high watermark
//	yiwang_loader_last_commit_timestamp_seconds              last committed batch
//	yiwang_table_newest_event_timestamp_seconds{table}       newest event time loaded per table
//	yiwang_duckdb_memory_bytes{tag}                          DuckDB's buffer-managed memory by tag (duckdb_memory())
//	yiwang_allocator_bytes{allocator,stat}                   the C allocators' statistics: glibc (mallinfo2), jemalloc (stats.*)
//
// Indicators:
//
//	yiwang_query_runs_total{query,mode,outcome}              scheduled indicator runs: ok | error
//	yiwang_query_last_success_timestamp_seconds{query,mode}  last successful run
//	yiwang_query_duration_seconds{query}                     duration of the last run
//	yiwang_query_last_run_timestamp_seconds{query,run_id}    the last run's id, as a label
//	yiwang_query_schedule{query,mode,cron}                   1 for every schedule in force
//	yiwang_area_mode{area,mode}                              1 for each area's current mode (areas switched at least once)
//
// Anomaly delivery:
//
//	yiwang_delivery_attempts_total{receiver,outcome}         deliveries tried: ok | error
//	yiwang_delivery_outbox_depth{receiver}                   anomaly changes not yet delivered
//	yiwang_delivery_last_success_timestamp_seconds{receiver} last change a receiver accepted
//
// Both:
//
//	yiwang_deadletters_total{stage,source,schema,reason}     records sent to yiwang.deadletter.v1
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every metric of one process.
type Metrics struct {
	Registry *prometheus.Registry

	ConnectorRecords     *prometheus.CounterVec
	ConnectorPolls       *prometheus.CounterVec
	ConnectorLost        *prometheus.GaugeVec
	ConnectorLastPoll    *prometheus.GaugeVec
	ConnectorLastProduce *prometheus.GaugeVec
	SourceNewestEvent    *prometheus.GaugeVec

	LoaderRecords    *prometheus.CounterVec
	LoaderBatches    *prometheus.CounterVec
	LoaderBatchTime  prometheus.Histogram
	LoaderLag        *prometheus.GaugeVec
	LoaderLastCommit prometheus.Gauge
	// DuckDBMemory is the memory DuckDB's buffer manager holds, by what
	// for (BASE_TABLE, HASH_TABLE, ART_INDEX...), updated every 15 s.
	DuckDBMemory *prometheus.GaugeVec
	// AllocatorMemory is what the process's C allocators hold (glibc's
	// malloc for DuckDB's objects, its jemalloc for its buffers), by
	// statistic, updated with DuckDBMemory.
	AllocatorMemory *prometheus.GaugeVec
	// ConnectorAssigned is 1 for each source this process runs now (it
	// holds the source's partition of yiwang.connect), else 0.
	ConnectorAssigned *prometheus.GaugeVec
	// Leader is 1 while this replica leads (performs the side effects
	// that must happen once), else 0.
	Leader prometheus.Gauge
	// LoaderFetchErrors counts failed fetches (each retried with backoff).
	LoaderFetchErrors *prometheus.CounterVec
	// LoaderSkipped counts records retention deleted before the loader
	// read them; LoaderOffsetResets, partitions whose stored offset was past
	// their end and were loaded again from their start.
	LoaderSkipped      *prometheus.CounterVec
	LoaderOffsetResets *prometheus.CounterVec
	TableNewestEvent   *prometheus.GaugeVec

	DeadLetters *prometheus.CounterVec

	QueryRuns        *prometheus.CounterVec
	QueryLastSuccess *prometheus.GaugeVec
	QueryDuration    *prometheus.GaugeVec
	QueryLastRun     *lastRun
	QuerySchedule    *prometheus.GaugeVec
	AreaMode         *prometheus.GaugeVec

	DeliveryAttempts    *prometheus.CounterVec
	DeliveryOutbox      *prometheus.GaugeVec
	DeliveryLastSuccess *prometheus.GaugeVec
}

// lastRun keeps one series per query: the id of its last run.
type lastRun struct {
	*prometheus.GaugeVec
	mu   sync.Mutex
	last map[string]string
}

// WithLabelValues returns the series of the query's run, removing the
// series of its previous run.
func (l *lastRun) WithLabelValues(query, runID string) prometheus.Gauge {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.last[query]; ok && prev != runID {
		l.GaugeVec.DeleteLabelValues(query, prev)
	}
	l.last[query] = runID
	return l.GaugeVec.WithLabelValues(query, runID)
}

// New creates the metrics on a fresh registry, with the Go and process
// collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{Registry: r}
	m.ConnectorRecords = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yiwang_connector_records_total", Help: "Records polled by a connector, by outcome (produced, deadletter)."}, []string{"source", "outcome"})
	m.ConnectorPolls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yiwang_connector_polls_total", Help: "Connector polls by outcome (ok, error)."}, []string{"source", "outcome"})
	m.ConnectorLost = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_connector_lost_records", Help: "Records the source system deleted before the connector read them (a Kafka topic's retention), since the process started."}, []string{"source"})
	m.ConnectorLastPoll = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_connector_last_poll_timestamp_seconds", Help: "Unix time of the last successful poll of a source, also when nothing was new."}, []string{"source"})
	m.ConnectorLastProduce = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_connector_last_produce_timestamp_seconds", Help: "Unix time at which Kafka last acknowledged records of a source."}, []string{"source"})
	m.SourceNewestEvent = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_source_newest_event_timestamp_seconds", Help: "Newest event time delivered by a source."}, []string{"source"})
	m.LoaderRecords = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yiwang_loader_records_total", Help: "Records consumed by the loader, by outcome (loaded, deadletter, duplicate_in_batch)."}, []string{"table", "outcome"})
	m.LoaderBatches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yiwang_loader_batches_total", Help: "Loader batches by outcome (committed, failed)."}, []string{"outcome"})
	m.LoaderBatchTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "yiwang_loader_batch_duration_seconds", Help: "Time to commit one batch to DuckDB.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	m.LoaderLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_loader_lag_records", Help: "Records between the loader's committed offset and the partition's high watermark."}, []string{"topic", "partition"})
	m.ConnectorAssigned = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_connector_assigned", Help: "1 for each source this process runs now (its partition of yiwang.connect is assigned here), else 0."}, []string{"source"})
	m.Leader = prometheus.NewGauge(prometheus.GaugeOpts{Name: "yiwang_leader", Help: "1 while this serve replica leads (the member of its leader group holding yiwang.leader's partition), else 0."})
	m.LoaderFetchErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yiwang_loader_fetch_errors_total", Help: "Loader fetches that failed and were retried with backoff."}, []string{"topic"})
	m.LoaderSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yiwang_loader_skipped_records_total", Help: "Records deleted by retention before the loader read them (its stored offset was below the log start)."}, []string{"topic", "partition"})
	m.LoaderOffsetResets = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yiwang_loader_offset_resets_total", Help: "Times a partition's stored offset was past its end (the log was lost or recreated) and the partition was loaded again from its start."}, []string{"topic", "partition"})
	m.LoaderLastCommit = prometheus.NewGauge(prometheus.GaugeOpts{Name: "yiwang_loader_last_commit_timestamp_seconds", Help: "Unix time of the loader's last committed batch."})
	m.DuckDBMemory = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_duckdb_memory_bytes", Help: "Memory DuckDB's buffer manager holds, by tag (as duckdb_memory() reports it; within its memory_limit)."}, []string{"tag"})
	m.AllocatorMemory = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_allocator_bytes", Help: "What the C allocators hold: glibc's malloc (mallinfo2: heap, mmapped, in_use, free) and DuckDB's jemalloc (stats.allocated, active, metadata, resident, mapped, retained)."}, []string{"allocator", "stat"})
	m.TableNewestEvent = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_table_newest_event_timestamp_seconds", Help: "Newest event time loaded into a table."}, []string{"table"})
	m.DeadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yiwang_deadletters_total", Help: "Records sent to the dead-letter topic, by stage (connector, loader), source, schema and reason."}, []string{"stage", "source", "schema", "reason"})
	m.QueryRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yiwang_query_runs_total", Help: "Scheduled indicator runs by query, mode and outcome (ok, error)."}, []string{"query", "mode", "outcome"})
	m.QueryLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_query_last_success_timestamp_seconds", Help: "Unix time of a query's last successful run."}, []string{"query", "mode"})
	m.QueryDuration = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_query_duration_seconds", Help: "Duration of a query's last run."}, []string{"query"})
	m.QueryLastRun = &lastRun{GaugeVec: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_query_last_run_timestamp_seconds", Help: "Unix time of a query's last run, labelled with its run id (which names the mode)."}, []string{"query", "run_id"}), last: map[string]string{}}
	m.QuerySchedule = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_query_schedule", Help: "1 for every query schedule in force, by mode and cron expression (Asia/Shanghai)."}, []string{"query", "mode", "cron"})
	m.AreaMode = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_area_mode", Help: "1 for the current mode of each area that was ever switched (normal, emergency)."}, []string{"area", "mode"})
	m.DeliveryAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "yiwang_delivery_attempts_total", Help: "Anomaly deliveries tried, by receiver and outcome (ok, error)."}, []string{"receiver", "outcome"})
	m.DeliveryOutbox = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_delivery_outbox_depth", Help: "Anomaly changes a receiver has not accepted yet."}, []string{"receiver"})
	m.DeliveryLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "yiwang_delivery_last_success_timestamp_seconds", Help: "When a receiver last accepted an anomaly change."}, []string{"receiver"})
	for _, c := range []prometheus.Collector{m.DeliveryAttempts, m.DeliveryOutbox, m.DeliveryLastSuccess, m.QuerySchedule, m.AreaMode, m.QueryRuns, m.QueryLastSuccess, m.QueryDuration, m.QueryLastRun.GaugeVec, m.ConnectorRecords, m.ConnectorPolls, m.ConnectorLost, m.ConnectorLastPoll, m.ConnectorLastProduce, m.SourceNewestEvent,
		m.LoaderRecords, m.LoaderBatches, m.LoaderBatchTime, m.LoaderLag, m.LoaderLastCommit, m.ConnectorAssigned, m.Leader, m.LoaderFetchErrors, m.LoaderSkipped, m.LoaderOffsetResets, m.TableNewestEvent, m.DeadLetters, m.DuckDBMemory, m.AllocatorMemory} {
		f(c)
	}
	return m
}
