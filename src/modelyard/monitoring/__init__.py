"""Monitoring: windows over a deployment's prediction log, the signals computed on them (service
health, data quality, drift, realized and estimated performance), alert rules with their
notifications and actions (rollback, gate), reference profiles per model version.

Modules are imported by their full path (``modelyard.monitoring.service``, ``.windows``,
``.signals``, ``.alerts``, ``.actions``, ``.drift``, ``.profiles``, ``.performance``,
``.estimation``, ``.notifiers``) so importing this package costs nothing.
"""
