/*
name: dq_incomplete_records
title:
  zh: 记录不完整率（数据质量）
  en: Incomplete records (data quality)
kind: indicator
schedule:
  normal: "20 0 * * *"
  emergency: "10 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: day
unit: percent
direction: lower_is_better
thresholds:
  normal: {warn: 2, alert: 5}
min_denominator: 0
inputs: [grid_events, work_orders, police_incidents, door_visits, team_records]
definition:
  zh: >-
    缺少应有字段的记录数 / 记录数 × 100%，统计网格事件、物业工单、警情、走访记录和工作记录卡中最新版本
    （updated_at）落在统计期内（统计期未结束时为计算时刻前）的记录，按记录的网格（工作记录卡按其区域）。
    必填字段（NOT NULL）入库前已校验，这里查随状态而必需的可选字段。网格事件：已派遣及以后（派遣、
    处置、结案、评价、返工）须有派遣时间和处置时限，已处置及以后须有处置时间，结案或评价须有结案时间，
    已评价须有满意度。物业工单：已派单及以后须有派单时间，已到场及以后须有到场时间，完成或已回访须有
    完成时间，已回访须有评价。警情：已处警结束的须有处警结果，报警和求助类的还须有到场时间。走访记录：
    须有坐标（走访真实性核查要用）。工作记录卡：须有成员标识。户和门店台账的完整性另见两项台账完整率。
  en: >-
    Records missing a field they should have / records × 100%, over the grid events, work orders,
    police incidents, door visits and work-record cards whose latest version (updated_at) falls in
    the period (before the computation while it runs), by the record's grid (a card by its area).
    Required (NOT NULL) fields are checked before loading; this checks optional fields a status
    makes necessary. Grid events: dispatched or later (dispatched, handled, closed, evaluated,
    rework) need dispatched_at and deadline_at, handled or later handled_at, closed or evaluated
    closed_at, evaluated a satisfaction. Work orders: assigned or later need assigned_at, arrived
    or later arrived_at, completed or called back completed_at, called back a rating. Incidents:
    closed ones need a disposal, and reports and assistance calls also arrived_at. Door visits
    need coordinates (the authenticity checks use them). Work-record cards need the member's
    pseudonym. The household and shop ledgers have their own completeness indicators.
  source: >-
    DOMAIN.md §9, data-quality anomaly rules (run before any indicator); §5 (record schemas) and §6
    (closed_at is NULL unless the status is closed or evaluated, and set when it is).
*/
WITH recs AS (
  SELECT grid_code AS code,
         (status IN ('dispatched', 'handled', 'closed', 'evaluated', 'rework') AND (dispatched_at IS NULL OR deadline_at IS NULL))
           OR (status IN ('handled', 'closed', 'evaluated') AND handled_at IS NULL)
           OR (status IN ('closed', 'evaluated') AND closed_at IS NULL)
           OR (status = 'evaluated' AND satisfaction IS NULL) AS bad
  FROM grid_events WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT grid_code,
         (status IN ('assigned', 'arrived', 'completed', 'called_back') AND assigned_at IS NULL)
           OR (status IN ('arrived', 'completed', 'called_back') AND arrived_at IS NULL)
           OR (status IN ('completed', 'called_back') AND completed_at IS NULL)
           OR (status = 'called_back' AND satisfaction IS NULL)
  FROM work_orders WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT grid_code,
         closed_at IS NOT NULL AND (disposal IS NULL OR (call_type IN ('report', 'assistance') AND arrived_at IS NULL))
  FROM police_incidents WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT grid_code, lon IS NULL OR lat IS NULL
  FROM door_visits WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT area_code, member_id_number_key IS NULL
  FROM team_records WHERE updated_at >= $period_start AND updated_at < $as_of
)
SELECT code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE bad) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM recs
GROUP BY code
