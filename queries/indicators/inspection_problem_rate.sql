/*
name: inspection_problem_rate
title:
  zh: 双随机抽查问题发现率
  en: Problem rate of random inspections (双随机)
kind: indicator
schedule:
  normal: "30 2 * * *"
grain: [grid, community, street, county, district, gov_unit]
period: quarter
unit: percent
direction: lower_is_better
min_denominator: 5
inputs: [market_inspections]
definition:
  zh: >-
    检查结果不是"未发现问题"的被检主体数 / 被检主体数 × 100%，按检查记录的网格、检查时间落在统计期
    （季度；统计期未结束时为计算时刻前）内统计。一个主体（统一社会信用代码）在同一网格被查多次只计
    一次，任一次发现问题即算发现问题。问题包括未按规定公示信息、通过登记的住所无法联系、责令整改、
    未发现开展经营活动、公示信息隐瞒真实情况弄虚作假和不配合检查。
  en: >-
    Inspected market entities with a result other than "no problem found" / inspected entities ×
    100%, by the inspection's grid and inspected_at in the period (a quarter; before the
    computation while it runs). An entity (credit code) inspected more than once in a grid counts
    once, with a problem if any inspection found one. Problems: information not published,
    unreachable at the registered address, rectification ordered, no business activity found,
    falsified information, non-cooperation.
  source: >-
    DOMAIN.md §9 #14 (双随机问题发现率 = inspected entities with result ≠ 未发现问题 / inspected);
    §5.3 inspection result categories.
*/
WITH inspected AS (
  SELECT grid_code, usci, bool_or(result <> 'no_problem') AS problem
  FROM market_inspections
  WHERE inspected_at >= $period_start
    AND inspected_at < $as_of
  GROUP BY grid_code, usci
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE problem) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM inspected
GROUP BY grid_code
