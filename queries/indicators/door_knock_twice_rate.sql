/*
name: door_knock_twice_rate
title:
  zh: 年内两次以上入户走访率
  en: Households visited at least twice in 12 months
kind: indicator
schedule:
  normal: "10 2 * * *"
  emergency: "0 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: higher_is_better
thresholds:
  normal: {warn: 100, alert: 90}
min_denominator: 5
lookback_months: 11
inputs: [households, door_visits]
definition:
  zh: >-
    截至统计期末的 12 个月内有 2 次及以上有效走访的户数 / 台账户数 × 100%，按户所在网格统计。12 个月：
    从统计期末（Asia/Shanghai）往前 12 个自然月起，到统计期末（统计期未结束时为计算时刻）止。有效走访：
    对象类型为户、结果为见面（met）或确认空置（vacant）；同一天（Asia/Shanghai）的多次走访只算一次，
    以免重复录入凑数。分母为当前台账的全部户（台账没有历史版本）。
  en: >-
    Households of the ledger with valid visits on at least 2 days in the 12 months up to the end
    of the period / households in the ledger × 100%, by the household's grid. The 12 months run
    from 12 calendar months before the period's end (Asia/Shanghai) to its end (the computation,
    while the period runs). Valid: target type household with outcome met or vacant (confirmed
    vacant); visits on the same day (Asia/Shanghai) count once, so that repeated entries do not
    make a second visit. The denominator is the ledger as it stands (it keeps no history).
  source: >-
    DOMAIN.md §9 #9 (≥ 2 visits/year rate = households with ≥ 2 valid visits in 12 months /
    households; policy: at least twice a year).
*/
WITH since AS (
  SELECT timezone('Asia/Shanghai',
                  timezone('Asia/Shanghai', CAST($period_end AS TIMESTAMPTZ)) - INTERVAL 12 MONTH) AS t
),
visit_days AS (
  SELECT v.target_id AS household_id,
         count(DISTINCT CAST(timezone('Asia/Shanghai', v.visited_at) AS DATE)) AS days
  FROM door_visits v, since s
  WHERE v.target_type = 'household'
    AND v.outcome IN ('met', 'vacant')
    AND v.visited_at >= s.t
    AND v.visited_at < $as_of
  GROUP BY v.target_id
)
SELECT h.grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE d.days >= 2) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM households h
LEFT JOIN visit_days d ON d.household_id = h.household_id
GROUP BY h.grid_code
