/*
name: door_knock_coverage
title:
  zh: 敲门入户覆盖率
  en: Door-knocking coverage of households
kind: indicator
schedule:
  normal: "0 2 * * *"
  emergency: "0 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: half_year
unit: percent
direction: higher_is_better
thresholds:
  normal: {warn: 100, alert: 90}
min_denominator: 5
inputs: [households, door_visits]
definition:
  zh: >-
    半年内（一次敲门行动）有效走访的户数 / 台账户数 × 100%，按户所在网格统计。有效走访：
    对象类型为户、结果为见面（met）或确认空置（vacant）。一户多次走访只计一次；不在台账中的
    对象不计。分母为当前台账的全部户（台账没有历史版本）。统计期未结束时为截至计算时刻的进度。
  en: >-
    Households of the ledger with at least one valid visit in the half-year (one door-knocking
    campaign) / households in the ledger × 100%, by the household's grid. Valid: target type
    household with outcome met or vacant (confirmed vacant). A household counts once however often
    it was visited; visits to targets not in the ledger do not count. The denominator is the
    ledger as it stands (it keeps no history). While the half-year runs, the value is the progress
    so far.
  source: >-
    DOMAIN.md §9 #9 (敲门入户覆盖率); 长春新区 18 measures: 敲门行动 at least twice a year with full
    coverage.
*/
WITH visited AS (
  SELECT DISTINCT target_id AS household_id
  FROM door_visits
  WHERE target_type = 'household'
    AND outcome IN ('met', 'vacant')
    AND visited_at >= $period_start
    AND visited_at < $as_of
)
SELECT h.grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(v.household_id) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM households h
LEFT JOIN visited v ON v.household_id = h.household_id
GROUP BY h.grid_code
