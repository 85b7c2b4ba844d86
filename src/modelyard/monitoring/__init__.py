"""Monitoring: drift, data quality, performance (realized and estimated), service health, alerts."""
