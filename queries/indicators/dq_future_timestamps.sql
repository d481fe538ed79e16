/*
name: dq_future_timestamps
title:
  zh: 未来时间戳率（数据质量）
  en: Records with timestamps after their own update time (data quality)
kind: indicator
schedule:
  normal: "20 0 * * *"
  emergency: "10 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: day
unit: percent
direction: lower_is_better
thresholds:
  normal: {warn: 0.1, alert: 1}
min_denominator: 0
inputs: [door_visits, grid_events, households, market_entities, market_inspections, police_incidents,
  stores, team_records, work_orders]
definition:
  zh: >-
    含未来时间的记录数 / 记录数 × 100%，统计全部九张记录表中最新版本（updated_at）落在统计期内（统计
    期未结束时为计算时刻前）的记录，按记录的网格（工作记录卡按其区域）。未来时间：记录中的业务时间
    晚于来源系统写入该版本的时间 updated_at，即写入时还不可能知道的时间；日期型字段（成立日期、消防
    检查日期、工作日期）晚于 updated_at 在 Asia/Shanghai 的日期。处置时限本就在将来，不比较。
    表中没有入库时间，只能以来源的 updated_at 为准：updated_at 本身在将来的记录落在将来的统计期，
    届时才被计入。记录不是个人，不做小格抑制。
  en: >-
    Records with a time in the future / records × 100%, over the records of all nine record
    tables whose latest version (updated_at) falls in the period (before the computation while it
    runs), by the record's grid (a work-record card by its area). In the future: a business time
    later than updated_at, the time the source wrote that version, which it could not have known
    then; a date (established_on, last_fire_check_on, work_date) later than updated_at's date in
    Asia/Shanghai. Deadlines lie ahead by nature and are not compared. The tables keep no load
    time, so the source's updated_at is the reference: a record whose updated_at itself lies
    ahead falls in a future period and counts then. Records are not people, so no cell is
    suppressed.
  source: >-
    DOMAIN.md §9, data-quality anomaly rules (future dates); §5.1 (last_verified_at ≤ now),
    §5.3 (established_on ≤ today).
*/
WITH recs AS (
  SELECT grid_code AS code, coalesce(visited_at > updated_at, false) AS bad
  FROM door_visits WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT grid_code, reported_at > updated_at OR coalesce(dispatched_at > updated_at, false)
           OR coalesce(handled_at > updated_at, false) OR coalesce(closed_at > updated_at, false)
  FROM grid_events WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT grid_code, coalesce(last_verified_at > updated_at, false)
  FROM households WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT grid_code, coalesce(established_on > CAST(timezone('Asia/Shanghai', updated_at) AS DATE), false)
  FROM market_entities WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT grid_code, inspected_at > updated_at
  FROM market_inspections WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT grid_code, received_at > updated_at OR coalesce(arrived_at > updated_at, false)
           OR coalesce(closed_at > updated_at, false)
  FROM police_incidents WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT grid_code, coalesce(last_visit_at > updated_at, false)
           OR coalesce(last_fire_check_on > CAST(timezone('Asia/Shanghai', updated_at) AS DATE), false)
  FROM stores WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT area_code, recorded_at > updated_at OR work_date > CAST(timezone('Asia/Shanghai', updated_at) AS DATE)
  FROM team_records WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT grid_code, created_at > updated_at OR coalesce(assigned_at > updated_at, false)
           OR coalesce(arrived_at > updated_at, false) OR coalesce(completed_at > updated_at, false)
  FROM work_orders WHERE updated_at >= $period_start AND updated_at < $as_of
)
SELECT code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE bad) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM recs
GROUP BY code
