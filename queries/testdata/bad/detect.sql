/*
name: detect
title: {zh: 检测, en: Detectors}
kind: indicator
schedule: {normal: "30 1 * * *"}
grain: [community, street, district]
period: day
unit: count
direction: lower_is_better
detect:
  - rule: prophet
  - rule: poisson
    levels: [grid, district]
    severity: high
    params:
      normal: {z: 4, alpha: 0.1}
      emergency: {min_count: 3}
  - rule: poisson
inputs: [police_incidents]
definition: {zh: 检测, en: Detectors, source: here}
*/
SELECT grid_code AS area_code, CAST($period_start AS TIMESTAMPTZ) AS period_start, 1.0 AS numerator, 1.0 AS denominator FROM police_incidents
