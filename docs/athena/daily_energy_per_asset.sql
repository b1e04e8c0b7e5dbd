-- Daily energy per asset: kWh by time of use and its cost, day by day over a period.
-- Parameters: tenant, first day (YYYY-MM-DD), last day (YYYY-MM-DD).
SELECT dt,
       asset_tag,
       round(kwh_total, 3) AS kwh_total,
       round(kwh_peak, 3) AS kwh_peak,
       round(kwh_off_peak, 3) AS kwh_off_peak,
       CAST(cost AS decimal(18, 2)) AS cost,
       tariff,
       flag
FROM energy_daily
WHERE tenant = ?
  AND dt BETWEEN ? AND ?
ORDER BY dt, asset_tag
