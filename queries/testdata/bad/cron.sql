/*
name: cron
title: {zh: 时间表, en: Schedules}
kind: indicator
emergency_only: true
schedule:
  normal: "30 1 * * *"
  emergency: "61 * * * *"
grain: [district]
period: day
unit: count
direction: lower_is_better
inputs: [grid_events]
definition: {zh: 说明, en: Explanation, source: a test}
*/
SELECT 1
