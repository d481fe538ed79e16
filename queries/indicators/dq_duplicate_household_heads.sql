/*
name: dq_duplicate_household_heads
title:
  zh: 户主重复登记率（数据质量）
  en: Household heads registered in more than one household (data quality)
kind: indicator
schedule:
  normal: "25 0 * * *"
grain: [grid, community, street, county, district, gov_unit]
period: day
unit: percent
direction: lower_is_better
thresholds:
  normal: {warn: 0.5, alert: 2}
min_denominator: 5
inputs: [households]
definition:
  zh: >-
    户主证件号假名（head_id_number_key）同时是台账中另一户户主的户数 / 有户主证件号的户数 × 100%，按户
    所在网格、以统计期末（统计期未结束时为计算时刻）的台账统计；重复的每一户都计入。同一人同时登记在
    两户，提示重复建档或迁出未注销。v1 没有人员表，只能查户主；台账没有历史版本，"同时"即当前台账。
  en: >-
    Households whose head's ID pseudonym (head_id_number_key) is also the head of another
    household in the ledger / households with a head ID × 100%, by the household's grid, as the
    ledger stands at the period's end (the computation, while it runs); every household of a
    duplicate counts. One person registered in two households at once points to a duplicate
    entry or a move not recorded. v1 has no person table, so only heads can be checked; the
    ledger keeps no history, so "at once" means in the current ledger.
  source: >-
    DOMAIN.md §9, data-quality anomaly rules (duplicate person_key in two households at once).
*/
WITH heads AS (
  SELECT grid_code, count(*) OVER (PARTITION BY head_id_number_key) > 1 AS duplicate
  FROM households
  WHERE head_id_number_key IS NOT NULL
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE duplicate) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM heads
GROUP BY grid_code
