/*
name: work_order_repeat_repair_rate
title:
  zh: 物业工单重复报修率
  en: Repeat-repair rate of property work orders
kind: indicator
schedule:
  normal: "45 1 * * *"
  emergency: "0 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: lower_is_better
thresholds:
  normal: {warn: 10, alert: 20}
min_denominator: 5
inputs: [work_orders]
definition:
  zh: >-
    重复报修的报修工单数 / 统计期内创建的报修工单数 × 100%，按工单网格、创建时间落在统计期内（统计期
    未结束时为计算时刻前）统计，只计类型为报修（repair）、未取消的工单。重复报修：此前 30 天内
    （30×24 小时，含 30 天整）同一报修对象（对象类型和编号相同，房屋、单元、楼栋或小区）已有同一分类
    的报修工单（未取消）。没有对象编号的工单不能判定，计入分母不计入分子。
  en: >-
    Repair orders that repeat an earlier one / repair orders created in the period × 100%, by the
    order's grid and created_at in the period (before the computation while it runs); only orders
    of kind repair that are not cancelled count. A repeat: a repair order (not cancelled) of the
    same category on the same object (same object type and id: room, entrance, building or
    compound) was created in the 30 days (30 × 24 hours, inclusive) before it. Orders without an
    object id cannot be judged and count in the denominator only.
  source: >-
    DOMAIN.md §9 #22 (重复报修率 = repairs on the same room ∧ category within 30 days / repairs),
    extended from rooms to every repair object of §5.4.
*/
WITH repairs AS (
  SELECT order_id, grid_code, category, object_type, object_id, created_at
  FROM work_orders
  WHERE kind = 'repair'
    AND status <> 'cancelled'
    AND created_at >= $period_start - INTERVAL 720 HOUR
    AND created_at < $as_of
),
repeats AS (
  SELECT DISTINCT r.order_id
  FROM repairs r
  JOIN repairs e
    ON e.order_id <> r.order_id
   AND e.object_type = r.object_type
   AND e.object_id = r.object_id
   AND e.category = r.category
   AND e.created_at < r.created_at
   AND e.created_at >= r.created_at - INTERVAL 720 HOUR
)
SELECT r.grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(p.order_id) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM repairs r
LEFT JOIN repeats p ON p.order_id = r.order_id
WHERE r.created_at >= $period_start
GROUP BY r.grid_code
