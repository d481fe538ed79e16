/*
name: dq_timestamp_order
title:
  zh: 时间戳顺序错误率（数据质量）
  en: Records with timestamps out of order (data quality)
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
inputs: [grid_events, work_orders, police_incidents]
definition:
  zh: >-
    时间戳顺序错误的记录数 / 记录数 × 100%，统计网格事件、物业工单和警情三张表中最新版本（updated_at）
    落在统计期内（统计期未结束时为计算时刻前）的记录，按记录的网格。顺序错误：已填的时间戳中有后一
    环节早于前一环节。网格事件：上报 ≤ 派遣 ≤ 处置 ≤ 结案，处置时限不早于上报；物业工单：创建 ≤ 派单
    ≤ 到场 ≤ 完成；警情：接警 ≤ 到场 ≤ 处警结束。空的时间戳不比较（缺失见完整性指标）。结案早于上报
    也在其中。记录不是个人，不做小格抑制。
  en: >-
    Records with timestamps out of order / records × 100%, over the grid events, work orders and
    police incidents whose latest version (updated_at) falls in the period (before the
    computation while it runs), by the record's grid. Out of order: of the timestamps present, a
    later step is earlier than an earlier one. Grid events: reported ≤ dispatched ≤ handled ≤
    closed, and the deadline not before the report; work orders: created ≤ assigned ≤ arrived ≤
    completed; incidents: received ≤ arrived ≤ closed. Missing timestamps are not compared (the
    completeness indicator counts them). Closed before reported is one such case. Records are not
    people, so no cell is suppressed.
  source: >-
    DOMAIN.md §9, data-quality anomaly rules (non-monotone timestamps, or closed before
    reported); §5.1, §5.2, §5.4 (timestamps monotone non-decreasing); §6 (enforce monotone
    timestamps).
*/
WITH recs AS (
  SELECT grid_code,
         coalesce(dispatched_at < reported_at, false) OR coalesce(handled_at < reported_at, false)
           OR coalesce(closed_at < reported_at, false) OR coalesce(handled_at < dispatched_at, false)
           OR coalesce(closed_at < dispatched_at, false) OR coalesce(closed_at < handled_at, false)
           OR coalesce(deadline_at < reported_at, false) AS bad
  FROM grid_events
  WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT grid_code,
         coalesce(assigned_at < created_at, false) OR coalesce(arrived_at < created_at, false)
           OR coalesce(completed_at < created_at, false) OR coalesce(arrived_at < assigned_at, false)
           OR coalesce(completed_at < assigned_at, false) OR coalesce(completed_at < arrived_at, false)
  FROM work_orders
  WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT grid_code,
         coalesce(arrived_at < received_at, false) OR coalesce(closed_at < received_at, false)
           OR coalesce(closed_at < arrived_at, false)
  FROM police_incidents
  WHERE updated_at >= $period_start AND updated_at < $as_of
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE bad) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM recs
GROUP BY grid_code
