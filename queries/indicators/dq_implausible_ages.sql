/*
name: dq_implausible_ages
title:
  zh: 户主年龄异常率（数据质量）
  en: Household heads of implausible age (data quality)
kind: indicator
schedule:
  normal: "25 0 * * *"
grain: [grid, community, street, county, district, gov_unit]
period: day
unit: percent
direction: lower_is_better
thresholds:
  normal: {warn: 0.1, alert: 1}
min_denominator: 5
inputs: [households]
definition:
  zh: >-
    户主年龄大于 110 岁或小于 0 岁的户数 / 有户主出生年的户数 × 100%，按户所在网格、以当前台账统计
    （台账没有历史版本）。年龄 = 统计日所在年份（Asia/Shanghai）− 户主出生年（由证件号在假名化前
    导出，head_id_number_birth_year）。证件号校验已拒绝出生日期在将来或早于 1880 年的记录，超过
    110 岁的仍可入库。v1 没有人员表，只能查户主。
  en: >-
    Households whose head is older than 110 or younger than 0 / households with the head's birth
    year × 100%, by the household's grid, on the ledger as it stands (it keeps no history). Age =
    the period's year (Asia/Shanghai) − the head's birth year (derived from the ID number before
    pseudonymisation, head_id_number_birth_year). The ID check already refuses birth dates in the
    future or before 1880, so heads over 110 can still be loaded. v1 has no person table, so only
    heads can be checked.
  source: >-
    DOMAIN.md §9, data-quality anomaly rules (ages > 110 or < 0).
*/
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE year(timezone('Asia/Shanghai', CAST($period_start AS TIMESTAMPTZ))) - head_id_number_birth_year NOT BETWEEN 0 AND 110) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM households
WHERE head_id_number_birth_year IS NOT NULL
GROUP BY grid_code
