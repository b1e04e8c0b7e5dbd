-- One sensor's day hour by hour (UTC hours): readings, average, minimum and maximum, from the
-- compacted telemetry.
-- Parameters: tenant, day (YYYY-MM-DD), asset tag, sensor id.
SELECT date_trunc('hour', ts) AS hour_utc,
       count(*) AS readings,
       round(avg(value), 3) AS avg_value,
       min(value) AS min_value,
       max(value) AS max_value,
       max(unit) AS unit
FROM telemetry_daily
WHERE tenant = ?
  AND dt = ?
  AND asset_tag = ?
  AND sensor_id = ?
GROUP BY date_trunc('hour', ts)
ORDER BY hour_utc
