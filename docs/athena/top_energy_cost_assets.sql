-- The ten assets whose energy cost the most over a period (e.g. a month), with their share of
-- peak-hour consumption.
-- Parameters: tenant, first day (YYYY-MM-DD), last day (YYYY-MM-DD).
SELECT asset_tag,
       count(*) AS days,
       round(sum(kwh_total), 3) AS kwh_total,
       round(sum(kwh_peak) / nullif(sum(kwh_total), 0), 4) AS peak_share,
       sum(CAST(cost AS decimal(18, 2))) AS cost
FROM energy_daily
WHERE tenant = ?
  AND dt BETWEEN ? AND ?
GROUP BY asset_tag
ORDER BY cost DESC, asset_tag
LIMIT 10
