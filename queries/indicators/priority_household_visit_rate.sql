/*
name: priority_household_visit_rate
title:
  zh: 重点关注户走访及时率
  en: Timely visits to households needing attention
kind: indicator
schedule:
  normal: "20 6 * * *"
  emergency: "0 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: day
unit: percent
direction: higher_is_better
thresholds:
  normal: {warn: 95, alert: 90}
  emergency: {warn: 100, alert: 95}
min_denominator: 5
inputs: [households, door_visits]
definition:
  zh: >-
    统计期末（统计期未结束时为计算时刻）前 30 天（720 小时）内见面走访过的重点关注户数 / 重点关注
    户数 × 100%，按户所在网格统计。重点关注户：台账中 needs_attention 为真的户（独居老人等敏感标签
    不入库，只共享这一标记）。走访：对象类型为户、结果为见面（met）；空置、不在家不算。分母为当前
    台账（没有历史版本）。超过 30 天未走访即为预警对象。
  en: >-
    Households needing attention that were visited and met in the 30 days (720 hours) before the
    period's end (the computation, while it runs) / households needing attention × 100%, by the
    household's grid. Needing attention: needs_attention is true in the ledger (the sensitive tags
    behind it, such as 独居老人, are not ingested; only this flag is shared). Visit: target type
    household with outcome met; vacant and not-at-home visits do not count. The denominator is
    the ledger as it stands (it keeps no history). A household not visited for more than 30 days
    is what the alert is about.
  source: >-
    DOMAIN.md §9, additional policy-specific measures (重点关注人群走访及时率 = tagged persons visited
    within their visit cycle / tagged persons; alert: not visited in > 30 days); §0 point 6 and
    §7 (only a needs_attention flag is shared); v1 has households, not persons.
*/
WITH visited AS (
  SELECT DISTINCT target_id AS household_id
  FROM door_visits
  WHERE target_type = 'household'
    AND outcome = 'met'
    AND visited_at >= $as_of - INTERVAL 720 HOUR
    AND visited_at < $as_of
)
SELECT h.grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(v.household_id) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM households h
LEFT JOIN visited v ON v.household_id = h.household_id
WHERE coalesce(h.needs_attention, false)
GROUP BY h.grid_code
