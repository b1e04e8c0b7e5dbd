-- A business month of the ledger by category and transaction type: count and amount, the
-- energy postings of the daily reports included.
-- Parameters: tenant, month (YYYY-MM).
SELECT category,
       transaction_type,
       count(*) AS transactions,
       sum(amount) AS amount
FROM ledger_transactions
WHERE tenant = ?
  AND month = ?
GROUP BY category, transaction_type
ORDER BY amount DESC, category, transaction_type
