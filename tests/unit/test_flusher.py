from __future__ import annotations

import threading

import pytest

from modelyard.core.tracking import Metric
from modelyard.tracking.flusher import MetricBuffer


class RecordingWriter:
    """Collects written batches; can be told to fail the next N writes."""

    def __init__(self, fail_times: int = 0) -> None:
        self.batches: list[tuple[str, list[Metric]]] = []
        self.fail_times = fail_times
        self.lock = threading.Lock()

    def __call__(self, run_id: str, metrics: list[Metric]) -> None:
        with self.lock:
            if self.fail_times > 0:
                self.fail_times -= 1
                raise ConnectionError("store down")
            self.batches.append((run_id, list(metrics)))

    def points(self) -> list[tuple[str, Metric]]:
        return [(run_id, m) for run_id, batch in self.batches for m in batch]


def test_flush_writes_everything_in_order_grouped_by_run() -> None:
    writer = RecordingWriter()
    buffer = MetricBuffer(writer, interval=60)
    for step in range(2500):
        buffer.add("a", Metric("loss", float(step), step, 1))
        buffer.add("b", Metric("acc", float(step), step, 1))
    buffer.flush()
    points = writer.points()
    assert len(points) == 5000
    assert [m.step for r, m in points if r == "a"] == list(range(2500))
    assert [m.step for r, m in points if r == "b"] == list(range(2500))
    assert buffer.unwritten() == 0
    buffer.close()


def test_background_thread_writes_without_explicit_flush() -> None:
    writer = RecordingWriter()
    buffer = MetricBuffer(writer, interval=0.01, batch_size=10)
    for step in range(100):
        buffer.add("a", Metric("x", 1.0, step, 1))
    deadline = threading.Event()
    for _ in range(500):
        if len(writer.points()) == 100:
            break
        deadline.wait(0.01)
    assert len(writer.points()) == 100
    buffer.close()


def test_failed_write_keeps_points_and_retries_without_loss() -> None:
    writer = RecordingWriter(fail_times=1)
    buffer = MetricBuffer(writer, interval=60)
    for step in range(10):
        buffer.add("a", Metric("x", 1.0, step, 1))
    with pytest.raises(ConnectionError):
        buffer.flush()
    assert buffer.unwritten() == 10
    assert isinstance(buffer.last_error, ConnectionError)
    buffer.add("a", Metric("x", 1.0, 10, 1))
    buffer.flush()
    assert [m.step for _, m in writer.points()] == list(range(11))
    assert buffer.last_error is None
    buffer.close()


def test_many_threads_adding_lose_nothing() -> None:
    writer = RecordingWriter()
    buffer = MetricBuffer(writer, interval=0.005, batch_size=100)

    def produce(tid: int) -> None:
        for step in range(5000):
            buffer.add(f"run{tid}", Metric("m", float(step), step, 1))

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    buffer.flush()
    points = writer.points()
    assert len(points) == 40_000
    for tid in range(8):
        assert sorted(m.step for r, m in points if r == f"run{tid}") == list(range(5000))
    buffer.close()
