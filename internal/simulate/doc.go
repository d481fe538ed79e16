// Package simulate provides the simulated source systems of the demo and the
// tests: the grid, police, market-supervision and property platforms of a
// synthetic district modelled on Changchun New Area (长春新区), each holding
// records of the v1 schemas and serving them over a polling REST API, as
// ledger files in a drop folder, in a PostgreSQL table and on a Kafka topic.
//
// # District
//
// NewDistrict builds eight real streets (乡街) with synthesised communities
// (5–15 per street; 奋进乡 gets villages numbered from 201, the 村委会 range),
// grids (5–15 per community), buildings and households, deterministically
// from a seed. WriteReference writes the areas.csv and gov_units.csv
// reference tables; the responsibility hierarchy 新区 → 开发区 → 乡街 → 社区
// lives only in gov_units.csv.
//
// # Records
//
// The first Run or Step loads the slowly-changing ledgers (every market
// entity, household and store, one version each, all with one updated_at).
// The stream then adds grid events, door visits, police incidents, work
// orders, inspections and team records, and new versions: lifecycle steps
// (grid event reported → dispatched → handled → closed, sometimes rejected,
// deferred, reworked or evaluated; work order created → assigned → arrived
// → completed; incident received → arrived → closed), and ledger updates
// after visits, inspections and at 5% of the stream rate.
//
// # Lifecycles
//
// Every step takes a duration drawn from a log-normal distribution per
// record type, category and urgency (lifecycle.go), counted in working
// hours on the official calendar where the step is office work (a grid
// centre's acceptance and dispatch, the on-site check before closure, a
// property desk's assignment) and in elapsed time where it is not (an
// urgent event, a police patrol, a burst pipe). Deadlines come from the
// time-limit table SLATable (DOMAIN.md §6), in working hours. Grid events
// are sometimes rejected or merged at acceptance, returned (回退) or
// escalated (上报) after dispatch, deferred (挂账), or sent back for
// rework (返工) when the check fails; a few patrol finds are dealt with on
// the spot (随手办) and closed minutes after dispatch. Each street and
// community has a persistent speed and a persistent share of slips drawn
// from the seed, one street lags and one leads; outdoor classes are slower
// in the heating season; holidays stretch every office step. Records keep
// changing in place over days. Config.Speed compresses the delays for
// tests.
//
// Stats (yiwang simulate stats) measures the result; TestLifecyclesArePlausible
// pins it over 90 days of history (seed 7) to these ranges:
//
//   - grid events: dispatch median 0.2–2 working hours and report → close
//     median 2–16, P90 8–60 (sanitation and street order within a working
//     day, disputes over several: DOMAIN.md §6's example limits of 2–4
//     working hours for the quick classes and working days for
//     construction); overdue 5–20% (Jinhua's on-time target of 70% is an
//     alert line, not the norm; city 数字城管 reports mostly publish 85–95%
//     按期处置率); rework 2–10%, deferral 0.5–4%, rejection 1–6%, instant
//     closure 0.3–4% (event_instant_closure_rate alerts at 5%); street
//     on-time rates 55–99% with at least 8 points between the lowest and
//     the highest.
//   - police incidents: arrival median 6–21 minutes, P90 12–45 (the common
//     110 norm of 5–10 minutes in town and 20–30 in the countryside), on
//     scene median 0.3–2 hours.
//   - work orders: assignment median 0.1–2 working hours, creation →
//     completion median 1–24 working hours, overdue 3–20% against the
//     limits of work_order_ontime_rate, cancelled 0.5–5%.
//
// These are this project's assumptions where no published distribution
// exists; DOMAIN.md §11 lists the questions for the district.
//
// Valid ids: GE/DV/PI/WO/MI/TR + local date + sequence for stream records,
// H + grid code + sequence for households, S + grid code + sequence for
// stores, the credit code (department 9) for market entities, JC/PGY/TJD/
// PHD/ZJK + area for teams and the team's id + sequence for memberships. Invalid
// records take ids from the X range (XGE000000001, XH000000001, ...) and
// invalid market entities credit codes of department Y, so they never
// collide with valid ones.
//
// Every updated_at is RFC 3339 in UTC with six fractional digits. Door visits
// are recorded to the minute, as the door-knocking ledger holds them. Versions of
// one record strictly increase; different records written between two reads
// share timestamps freely; a record written after a response is stamped
// later than everything that response returned.
//
// # Rhythm
//
// Config.Rate is the peak rate of new stream records. It is multiplied by
// Calendar.Rhythm: a daily shape by local hour (Asia/Shanghai) — 0.04–0.06
// from midnight to 05:00, 0.15 at 06, 0.40 at 07, 0.75 at 08, 1.0 at 09–10,
// 0.85 at 11, 0.50 at 12, 0.60 at 13, 0.90 at 14, 1.0 at 15, 0.95 at 16,
// 0.70 at 17, then 0.45, 0.35, 0.28, 0.20, 0.12, 0.08 to 23, interpolated
// by minute — times a day factor: 1.0 on working days (make-up working days
// included), 0.45 on weekends, 0.30 on official holidays. The mix shifts
// with the hour: door visits only 07:00–21:00, inspections only in office
// hours of working days, police incidents make up most of the night.
//
// # Seasons
//
// Categories follow Changchun's year (seasonalFactor): heating complaints
// only in the heating season (about 20 October to 10 April), twice as often
// in its first two months; waterlogging and floods four times as often in
// the July–August rains and almost never when the ground is frozen; fires
// two to three times as often in the dry spring (March–May) and half as
// often in summer; street vendors and noise up by half in summer. Summer
// nights bring half as many police calls again, winter nights a fifth
// fewer. The Spring Festival is an official holiday with its day factor.
//
// # Door-knocking campaign
//
// Each half-year's campaign (敲门行动, campaign) has every grid call on its
// households and stores in an order of its own, at a pace of its own: most
// grids call on all of theirs with weeks to spare, a lagging community
// (the places that slip on cases) on barely two thirds. A door not opened
// is tried again before new doors; a grid ahead of its schedule visits
// buildings and key persons instead. TestCampaignProgress pins the curve
// (median street coverage 0.25–0.6 after two months, 0.8–0.97 after five,
// streets at least 12 points apart).
//
// # The five forces
//
// The rosters (team, team_member) hold the district's forces at the sizes
// of its measures, whatever the scale (rosterSizes, TestRosterSizes). Work-
// record cards are written by roster members, a quarter of whom log nothing
// in a month, in communities whose activity follows their other
// differences. An emergency (event class 08) calls out its street's shock
// and fire teams, and for a disaster or an epidemic case the zone's and the
// new area's; their emergency-duty cards name the event.
//
// # Memory
//
// The source systems keep their records' bytes in one unlinked file per
// record type (Config.Dir), rewritten when superseded versions outweigh the
// live ones; the heap holds only the index (ids, versions, the change log:
// about 150 bytes a record).
//
// # Invalid records
//
// A share Config.InvalidShare of new records (the initial load included) is
// invalid in one way, chosen at random, labelled InvalidGridCode,
// InvalidUSCIChecksum, InvalidEnum, InvalidTimestamp or InvalidMissingField.
// Invalid records are never updated, keep a valid id and updated_at, and are
// served like the valid ones.
//
// # Transports
//
// Handler serves every record type over a polling REST API (Config.HTTPTypes
// narrows it). Three publishers hand some types over the way their platform
// would instead, each keeping its own position in the change log like an
// HTTP client's cursor, so that nothing is published twice or skipped within
// a process:
//
//   - LedgerPublisher (PublishLedgers): the community workers' ledgers in a
//     drop folder, door visits as XLSX and stores as GBK CSV, with Chinese
//     titles, headers and labels; invalid records as bad rows.
//   - PostgresPublisher (PublishPostgres): the property system's work_order
//     table, each version upserted in place; invalid orders as typed columns
//     hold them (a malformed created_at as NULL).
//   - KafkaPublisher (PublishKafka): the police platform's incidents on topic
//     jz.jqxx in its own JSON shape (jjdbh, bjsj, jqxz, fsdd.wgbm, gxsj...).
//
// Transport.RecordTypes says which types each covers. testdata/ledgers.yaml,
// testdata/workorders.yaml and testdata/police_kafka.yaml are the connector
// configurations that read them. Every invalid record is published and stays
// invalid, so Ledger's expectations hold whatever the transport. A restarted
// process re-generates its history from the seed and publishes it again:
// the same ledger content is a duplicate the file connector recognises by
// its hash, newer versions of the same keys are kept by the loader's upsert,
// the PostgreSQL upsert is idempotent, and Kafka duplicates are absorbed by
// the loader's upsert by key and version.
//
// # Checking a pipeline
//
// Ledger returns the latest version of every valid record and the reason
// label of every invalid one; Counts returns the totals.
//
// The package exports no metrics.
package simulate
