/*
name: work_order_satisfaction_rate
title:
  zh: 物业工单回访满意率
  en: Callback satisfaction rate of property work orders
kind: indicator
schedule:
  normal: "45 1 * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: higher_is_better
thresholds:
  normal: {warn: 80, alert: 70}
min_denominator: 5
inputs: [work_orders]
definition:
  zh: >-
    回访评价为满意的工单数 / 已回访的工单数 × 100%，按工单网格、完成时间落在统计期内（统计期未结束时
    为计算时刻前）的已完成工单（状态为完成或已回访）统计。已回访：有回访评价（1–5 分）；满意：4 分或
    5 分。没有评价的工单不计（表中没有回访时间，以完成时间定统计期）。
  en: >-
    Work orders rated satisfied at the callback / work orders called back × 100%, over the orders
    completed in the period (status completed or called_back, completed_at in the period; before
    the computation while it runs), by the order's grid. Called back: a rating (1–5) is recorded;
    satisfied: 4 or 5. Orders without a rating do not count (the table has no callback time, so
    the completion time places an order in a period).
  source: >-
    DOMAIN.md §9 #22 (回访满意率 = satisfied / called back); §5.4 work_order satisfaction.
*/
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE satisfaction >= 4) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM work_orders
WHERE status IN ('completed', 'called_back')
  AND completed_at >= $period_start
  AND completed_at < $as_of
  AND satisfaction IS NOT NULL
GROUP BY grid_code
