/*
name: police_incidents_per_10k
title:
  zh: 万人警情数
  en: Valid police incidents per 10,000 residents
kind: indicator
schedule:
  normal: "20 0 * * *"
  emergency: "0 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: per_10k
direction: lower_is_better
min_denominator: 5
inputs: [police_incidents, households]
definition:
  zh: >-
    统计期内的有效警情数 / 实有人口 × 10000，按网格统计。有效警情：is_valid 为真、接警时间落在统计期内
    （统计期未结束时为计算时刻前），按警情发生地网格计。实有人口：户台账中该网格各户人数
    （members_n）之和，以当前台账计（台账没有历史版本；v1 没有人员表）。人口少于 5 人的格不公布。
  en: >-
    Valid police incidents in the period / actual residents × 10,000, by grid. Valid incidents:
    is_valid, received_at in the period (before the computation while it runs), by the
    incident's grid. Actual residents: the sum of members_n over the grid's households in the
    ledger as it stands (it keeps no history; v1 has no person table). Cells of fewer than 5
    residents are not published.
  source: >-
    DOMAIN.md §9 #17 (万人警情 = valid incidents / 实有人口 × 10,000; funnel by grid population).
*/
WITH incidents AS (
  SELECT grid_code, count(*) AS n
  FROM police_incidents
  WHERE is_valid
    AND received_at >= $period_start
    AND received_at < $as_of
  GROUP BY grid_code
),
residents AS (
  SELECT grid_code, sum(members_n) AS n
  FROM households
  GROUP BY grid_code
)
SELECT coalesce(i.grid_code, r.grid_code) AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(coalesce(i.n, 0) AS DOUBLE) AS numerator,
       CAST(coalesce(r.n, 0) AS DOUBLE) AS denominator
FROM incidents i
FULL OUTER JOIN residents r ON r.grid_code = i.grid_code
