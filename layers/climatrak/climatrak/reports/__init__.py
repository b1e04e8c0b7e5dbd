"""Reports: the daily (D-1) and monthly jobs over the lake and the Main table, and their outputs."""
