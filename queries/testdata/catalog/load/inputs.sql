/*
name: inputs
title: {zh: 测试, en: Test}
kind: indicator
schedule: {normal: "30 1 * * *"}
grain: [grid, district]
period: day
unit: percent
direction: higher_is_better
inputs: [grid_events, households, nowhere]
definition: {zh: 说明, en: Explanation, source: a test}
*/
SELECT e.grid_code AS area_code, CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(v.visit_id) AS DOUBLE) AS numerator, CAST(count(*) AS DOUBLE) AS denominator
FROM grid_events e LEFT JOIN door_visits v ON v.grid_code = e.grid_code
GROUP BY e.grid_code
