/*
name: dq_orphan_grid_codes
title:
  zh: 孤儿网格编码率（数据质量）
  en: Records with an orphan grid code (data quality)
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
  stores, team_records, work_orders, areas, grids]
definition:
  zh: >-
    网格编码在网格参照表中不存在的记录数 / 记录数 × 100%，统计全部九张记录表中最新版本（updated_at）
    落在统计期内（统计期未结束时为计算时刻前）的记录。15 位网格编码须是 grids 中的网格；工作记录卡
    的区域编码为 9 位或 12 位时须在 areas 中。入库校验只要求网格所在社区已知，网格序号未知的记录照常
    入库，由本指标发现（参照表更新后原有编码也可能失效）。孤儿记录计入编码前缀中最近的已知区域（社区、
    街道或县区），都不认识的只计入全区；正常记录计入其网格。记录不是个人，不做小格抑制。
  en: >-
    Records whose grid code is not in the grid reference / records × 100%, over the records of
    all nine record tables whose latest version (updated_at) falls in the period (before the
    computation while it runs). A 15-digit grid code must be a grid of grids; a work-record
    card's 9- or 12-digit area code must be in areas. Validation at load time only requires the
    grid's community to be known, so a record with an unknown grid sequence is loaded and found
    here (a reference update can also orphan codes already loaded). An orphan counts in the
    nearest known area its code begins with (community, street or county), or only in the whole
    district if none is known; other records count in their own area. Records are not people, so
    no cell is suppressed.
  source: >-
    DOMAIN.md §9, data-quality anomaly rules (orphan codes: grid_code not in grid_ref on
    event_date); schemas/record.go (unknown grid sequences are loaded and reported here).
*/
WITH recs AS (
  SELECT grid_code AS code FROM door_visits WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL SELECT grid_code FROM grid_events WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL SELECT grid_code FROM households WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL SELECT grid_code FROM market_entities WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL SELECT grid_code FROM market_inspections WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL SELECT grid_code FROM police_incidents WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL SELECT grid_code FROM stores WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL SELECT area_code FROM team_records WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL SELECT grid_code FROM work_orders WHERE updated_at >= $period_start AND updated_at < $as_of
),
-- Each code is judged once.
codes AS (
  SELECT code, count(*) AS n FROM recs GROUP BY code
),
judged AS (
  SELECT c.code, c.n,
         CASE WHEN length(c.code) = 15 THEN g.grid_code IS NULL ELSE a.code IS NULL END AS orphan,
         a12.code AS community, a9.code AS street, a6.code AS county
  FROM codes c
  LEFT JOIN grids g ON g.grid_code = c.code
  LEFT JOIN areas a ON a.code = c.code
  LEFT JOIN areas a12 ON length(c.code) > 12 AND a12.code = left(c.code, 12)
  LEFT JOIN areas a9 ON length(c.code) > 9 AND a9.code = left(c.code, 9)
  LEFT JOIN areas a6 ON length(c.code) > 6 AND a6.code = left(c.code, 6)
)
SELECT CASE WHEN NOT orphan THEN code ELSE coalesce(community, street, county, code) END AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(coalesce(sum(n) FILTER (WHERE orphan), 0) AS DOUBLE) AS numerator,
       CAST(sum(n) AS DOUBLE) AS denominator
FROM judged
GROUP BY 1
