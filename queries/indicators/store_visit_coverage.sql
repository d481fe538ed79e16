/*
name: store_visit_coverage
title:
  zh: 十小门店敲门走访覆盖率
  en: Door-knocking coverage of small shops
kind: indicator
schedule:
  normal: "5 2 * * *"
  emergency: "0 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: half_year
unit: percent
direction: higher_is_better
thresholds:
  normal: {warn: 100, alert: 90}
min_denominator: 5
inputs: [stores, door_visits]
definition:
  zh: >-
    半年内（一次敲门行动）有效走访的十小门店数 / 门店台账中的门店数 × 100%，按门店所在网格统计。
    有效走访：对象类型为门店、结果为见面（met）或确认空置（vacant）。一店多次走访只计一次；不在台账
    中的对象不计。分母为当前台账的全部门店（台账没有历史版本）。统计期未结束时为截至计算时刻的进度。
  en: >-
    Small shops ("十小") of the ledger with at least one valid visit in the half-year (one
    door-knocking campaign) / shops in the ledger × 100%, by the shop's grid. Valid: target type
    store with outcome met or vacant (confirmed vacant). A shop counts once however often it was
    visited; visits to targets not in the ledger do not count. The denominator is the ledger as
    it stands (it keeps no history). While the half-year runs, the value is the progress so far.
  source: >-
    DOMAIN.md §9 #9 (door-knock coverage per half-year campaign), applied to the "十小" store
    ledger of §5.3; 长春新区 敲门行动 covers households and shops.
*/
WITH visited AS (
  SELECT DISTINCT target_id AS store_id
  FROM door_visits
  WHERE target_type = 'store'
    AND outcome IN ('met', 'vacant')
    AND visited_at >= $period_start
    AND visited_at < $as_of
)
SELECT s.grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(v.store_id) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM stores s
LEFT JOIN visited v ON v.store_id = s.store_id
GROUP BY s.grid_code
