/*
name: police_incident_count
title:
  zh: 有效警情数
  en: Valid police incidents
kind: indicator
schedule:
  normal: "10 0 * * *"
  emergency: "0-59/15 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: day
unit: count
direction: lower_is_better
min_denominator: 0
inputs: [police_incidents]
definition:
  zh: >-
    统计期内接警的有效警情数（is_valid 为真），按警情发生地网格、接警时间落在统计期内（统计期未结束
    时为计算时刻前）统计。分母为同期全部接警数（含无效警情），供计算有效警情占比。警情不涉及个人
    身份（报警人信息不入库），故不做小格抑制。按日统计，供泊松 z 规则（与前 28 天日均或去年同期比）
    判断异常。
  en: >-
    Valid police incidents (is_valid) received in the period, by the incident's grid and
    received_at in the period (before the computation while it runs). The denominator is all
    calls received in the period, invalid ones included, for the valid share. Incidents carry no
    caller identity (it is not ingested), so no cell is suppressed. Daily, for the Poisson z-rule
    against the trailing 28-day mean or the same period last year.
  source: >-
    DOMAIN.md §9 #16 and #17 (警情总量; counts use the Poisson z-rule z = (n − base)/√base > 3 and
    n ≥ 5); §5.2 police_incident.
*/
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE is_valid) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM police_incidents
WHERE received_at >= $period_start
  AND received_at < $as_of
GROUP BY grid_code
