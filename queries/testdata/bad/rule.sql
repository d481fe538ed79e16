/*
name: rule
title: {zh: 规则, en: A rule}
kind: rule
schedule: {normal: "10 * * * *"}
period: week
severity: urgent
records: grid_events
grain: [grid]
params:
  normal: {limit: 3, period_start: 1}
  emergency: {limit: 2, other: 5}
inputs: [grid_events]
definition: {zh: 规则, en: A rule, source: here}
*/
SELECT event_id AS subject FROM grid_events WHERE n > $limit AND m > $nothing
