"""Executor backends: ``local`` (this process: inline, threads or processes) and ``ray``."""
