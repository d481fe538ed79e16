/*
name: columns
title: {zh: 测试, en: Test}
kind: indicator
schedule: {normal: "30 1 * * *"}
grain: [grid, district]
period: day
unit: percent
direction: higher_is_better
inputs: [grid_events]
definition: {zh: 说明, en: Explanation, source: a test}
*/
SELECT grid_code AS area, CAST($period_start AS TIMESTAMP) AS period_start,
       count(*) AS numerator, 1.0 AS denominator, 0.5 AS value
FROM grid_events
GROUP BY grid_code
