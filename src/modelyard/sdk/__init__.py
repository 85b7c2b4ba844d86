"""The SDK, the face of modelyard: the functions and classes ``modelyard/__init__.py`` re-exports.

``session`` (the one session object: settings, opened stores and services, the metric buffer,
the active runs of each thread and asyncio task), ``tracking`` (runs, params, metrics,
artifacts), ``models`` (the registry), ``evaluation`` (evaluation and model cards), ``tuning``,
``autolog`` and ``datasets`` (public as ``modelyard.datasets``).
"""
