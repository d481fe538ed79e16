/*
name: police_incidents_daily
title:
  zh: 每日有效警情数
  en: Valid police incidents a day
kind: indicator
schedule:
  normal: "5 * * * *"
  emergency: "0-59/10 * * * *"
grain: [community, street, county, district, gov_unit]
period: day
unit: count
direction: lower_is_better
min_denominator: 0
detect:
  - rule: poisson
    levels: [community, street]
    params:
      normal: {z: 3.5, days: 2, min_count: 5, min_change: 4, min_history: 7}
      emergency: {z: 3, min_count: 3}
  - rule: robust
    levels: [community]
    params:
      normal: {z: 5, days: 2, min_count: 5, min_change: 4}
inputs: [police_incidents]
definition:
  zh: >-
    当日（北京时间）接报的有效警情数。分子、分母均为警情数（计数指标，不按分母抑制：当日某社区的警情数
    不涉及个人）。异常：社区、街道当日警情数不低于此数的概率，按同类日（工作日与工作日、休息日与休息日、
    春节假期某日与上年春节同一日）前 28 个的均值及其离散度（泊松或负二项分布的精确尾概率），连同前一日
    合计（days: 2，几日的聚集比单日的偶然高值更可信）小于正态分布 3.5 个标准差以外的概率（约万分之二），
    且当日不少于 5 起、比均值多 4 起以上；历史不足 7 个
    同类日的社区以同街道其他社区的当日均值（按其规模折算）为基线；另以中位数/MAD 的稳健分数复核。
  en: >-
    Valid police incidents received on the day (Asia/Shanghai). Numerator and denominator are the
    count (a count indicator, not suppressed by its denominator: an area's incidents of a day say
    nothing of a person). Anomalies: a community's or street's count whose chance of being reached,
    given the mean of the 28 like days before it (working days with working days, days off with
    days off, a Spring Festival day with the same day of last year's festival) and their own
    dispersion (the exact Poisson or negative-binomial tail), taken with the day before (days: 2:
    a spike of days is surer than one odd day), is below a normal variable's beyond 3.5 standard
    deviations (about 2 in 10,000), with at least 5 on the day and 4 above its mean; a
    community with fewer than 7 like days of its own is compared with the other communities of
    its street that day, scaled to its size; a median/MAD score checks it robustly.
  source: >-
    DOMAIN.md §9 #16 (Poisson z-rule: z = (n − base)/√base > 3 and n ≥ 5, base a trailing 28-day
    mean; align the Spring Festival window with last year's; 调休 days change the weekday mix).
*/
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM police_incidents
WHERE is_valid AND received_at >= $period_start AND received_at < $as_of
GROUP BY grid_code
