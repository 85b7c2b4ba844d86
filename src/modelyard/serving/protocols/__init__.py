"""The server's protocols, one module each: ``native`` (``/v1/models/{name}/predict``), ``mlflow``
(``/invocations``, MLflow's scoring protocol) and ``v2`` (the Open Inference Protocol of KServe,
Triton and MLServer). Each exposes ``route(app, request, parts)`` and answers errors in its own
protocol's error shape."""
