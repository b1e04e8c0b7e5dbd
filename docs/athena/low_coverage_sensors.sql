-- Sensors whose day had data in fewer than 90% of its 1-minute slots, worst first, with the
-- longest silence of the day: candidates for a connectivity or device check.
-- Parameters: tenant, day (YYYY-MM-DD).
SELECT asset_tag,
       device_id,
       sensor_id,
       "count" AS readings,
       round(coverage * 100, 1) AS coverage_pct,
       round(longest_gap_s / 60, 1) AS longest_gap_min,
       first_ts,
       last_ts
FROM sensor_daily
WHERE tenant = ?
  AND dt = ?
  AND coverage < 0.9
ORDER BY coverage, asset_tag, sensor_id
