"""Experiment tracking: the service, the buffered metric flusher and autologging."""

from modelyard.tracking.service import TrackingService, runs_to_frame

__all__ = ["TrackingService", "runs_to_frame"]
