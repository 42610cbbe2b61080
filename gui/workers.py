"""Workers on their own QThreads: the camera reader and the face pipeline.

Frames pass through one-slot mailboxes (the newest frame wins, nothing queues up), and the window
pulls the newest frame and the newest observations on a timer, so a slow pipeline never slows the camera
and a fast camera never floods the event loop. A worker never touches a widget; signals carry plain data.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, Signal

from engine.camera import Frame, FrameSource, describe_source
from engine.errors import LikenessError

RETRY_SECONDS = 2.0


class Mailbox:
    """One slot: put() replaces what was there, take() empties it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._item = None

    def put(self, item) -> None:
        with self._lock:
            self._item = item

    def take(self):
        with self._lock:
            item, self._item = self._item, None
            return item

    def peek(self):
        with self._lock:
            return self._item


class RateMeter:
    """Events per second over the last second or so."""

    def __init__(self):
        self._times: list[float] = []

    def tick(self, now: float) -> float:
        self._times = [t for t in self._times if now - t < 1.0] + [now]
        return len(self._times) / max(now - self._times[0], 1e-3) if len(self._times) > 1 else 0.0


@dataclass(frozen=True)
class PipelineResult:
    frame: Frame
    faces: list
    stage_ms: dict
    done_at: float


class CameraWorker(QObject):
    """Reads a FrameSource into two mailboxes (one for the pipeline, one for the screen)."""

    status = Signal(str)  # a sentence for the user: camera lost, retrying, ...
    fps = Signal(float)

    def __init__(self, source: str, loop: bool, for_pipeline: Mailbox, for_screen: Mailbox):
        super().__init__()
        self.source, self.loop = source, loop
        self.for_pipeline, self.for_screen = for_pipeline, for_screen
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self._read(FrameSource(self.source, loop=self.loop))
                if not self.loop:
                    self.status.emit(f"{describe_source(self.source)} ended.")
                    return
            except LikenessError as error:
                self.status.emit(f"{error} Retrying in {RETRY_SECONDS:.0f} s.")
                self._stop.wait(RETRY_SECONDS)

    def _read(self, source: FrameSource) -> None:
        meter = RateMeter()
        self.status.emit(f"Camera: {describe_source(self.source)}")
        try:
            for frame in source.frames():
                if self._stop.is_set():
                    return
                self.for_pipeline.put(frame)
                self.for_screen.put(frame)
                if frame.index % 10 == 0:
                    self.fps.emit(meter.tick(frame.timestamp))
                else:
                    meter.tick(frame.timestamp)
        finally:
            source.close()

    def stop(self) -> None:
        self._stop.set()


class PipelineWorker(QObject):
    """Owns the FacePipeline: observes the newest frame, and runs photo jobs for the tabs between frames."""

    job_done = Signal(object, object)  # (job id, result or LikenessError)
    fps = Signal(float)
    ready = Signal(str)  # the provider report, once the models are loaded
    failed = Signal(str)

    def __init__(self, make_pipeline, frames: Mailbox, results: Mailbox):
        super().__init__()
        self.make_pipeline, self.frames, self.results = make_pipeline, frames, results
        self.jobs: queue.Queue = queue.Queue()
        self.pending_settings = Mailbox()
        self._stop = threading.Event()

    def run(self) -> None:
        try:
            pipeline = self.make_pipeline()
        except LikenessError as error:
            self.failed.emit(str(error))
            return
        self.ready.emit(str(pipeline.encoder.provider))
        meter = RateMeter()
        while not self._stop.is_set():
            if (settings := self.pending_settings.take()) is not None:
                pipeline.apply_settings(settings)
            self._run_jobs(pipeline)
            frame = self.frames.take()
            if frame is None:
                time.sleep(0.003)
                continue
            try:
                faces = pipeline.observe(frame.image)
            except LikenessError as error:
                self.failed.emit(str(error))
                continue
            times = pipeline.times
            stages = {"detect": times.detect, "align": times.align, "encode": times.encode, "match": times.match}
            now = time.monotonic()
            self.results.put(PipelineResult(frame, faces, stages, now))
            self.fps.emit(meter.tick(now))

    def _run_jobs(self, pipeline) -> None:
        while True:
            try:
                job_id, work = self.jobs.get_nowait()
            except queue.Empty:
                return
            try:
                self.job_done.emit(job_id, work(pipeline))
            except LikenessError as error:
                self.job_done.emit(job_id, error)

    def submit(self, job_id, work) -> None:
        """Run work(pipeline) on the pipeline's thread; the answer comes back by job_done."""
        self.jobs.put((job_id, work))

    def stop(self) -> None:
        self._stop.set()


def start_in_thread(worker: QObject, name: str) -> QThread:
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    thread.start()
    return thread
