"""Workers on their own QThreads: the camera reader and the face pipeline.

Frames pass through one-slot mailboxes (the newest frame wins, nothing queues up). After each put a worker
emits an empty wake-up signal; the window then takes whatever is newest, so a slow pipeline never slows the
camera, and wake-ups that pile up during a stall cost nothing (the mailbox is empty by then). A worker never
touches a widget; signals carry plain data.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

from PySide6.QtCore import QObject, QThread, Signal

from engine.camera import Frame, FrameSource, describe_source
from engine.errors import BadInput, LikenessError
from engine.logs import log_unexpected
from engine.streams import StreamDecisions, StreamUpdate

RETRY_SECONDS = 2.0
IDLE_WAIT_SECONDS = 0.005


def as_sentence(error: Exception) -> str:
    """Our typed errors already read as one sentence; anything else is a bug, said as plainly as we can."""
    if isinstance(error, LikenessError):
        return str(error)
    return f"Unexpected error ({type(error).__name__}: {error})."


def as_likeness_error(error: Exception, doing: str = "running a job") -> LikenessError:
    """Any error as one of ours, to hand to a tab (which shows str() of it); the traceback of any other goes to
    the log file."""
    log_unexpected(error, doing)
    return error if isinstance(error, LikenessError) else LikenessError(as_sentence(error))


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
    done_at: float  # time.monotonic() when the faces were ready
    started_at: float = 0.0  # when the pipeline took the frame (frame.timestamp .. started_at: waiting)
    encoder_id: str = ""  # the encoder whose embeddings these faces carry
    identify: StreamUpdate = StreamUpdate()  # what the stream decided of each face (engine.streams)


class CameraWorker(QObject):
    """Reads a FrameSource into two mailboxes (one for the pipeline, one for the screen)."""

    status = Signal(str)  # a sentence for the status bar: which camera is in use
    lost = Signal(str)  # a sentence for the view: the camera is gone (or never came), retrying
    ended = Signal(str)  # a video played once has ended
    fps = Signal(float)
    new_frame = Signal()  # wake-up: the screen mailbox holds a newer frame

    def __init__(self, source: str, loop: bool, for_pipeline: Mailbox, for_screen: Mailbox):
        super().__init__()
        self.source, self.loop = source, loop
        self.for_pipeline, self.for_screen = for_pipeline, for_screen
        self._stop = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.thread().quit()  # the thread ends with the loop, even when nobody waits for it

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._read(FrameSource(self.source, loop=self.loop))
                if not self.loop and not self._stop.is_set():
                    self.ended.emit(f"{describe_source(self.source)} ended.")
                    return
            except BadInput as error:  # a path that does not exist, a file that is not a video: said once
                self.lost.emit(str(error))
                return
            except Exception as error:  # a camera that vanishes may raise anything from OpenCV: it may come back
                log_unexpected(error, f"reading {self.source}")
                self.lost.emit(f"{as_sentence(error)} Retrying in {RETRY_SECONDS:.0f} s.")
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
                self.new_frame.emit()
                if frame.index % 10 == 0:
                    self.fps.emit(meter.tick(frame.timestamp))
                else:
                    meter.tick(frame.timestamp)
        finally:
            source.close()

    def stop(self) -> None:
        self._stop.set()


class PipelineWorker(QObject):
    """Owns the Recognizer and the camera's stream decisions: observes the newest frame, decides on every face
    (logging and publishing each new decision), and runs the tabs' jobs between frames."""

    job_done = Signal(object, object)  # (job id, result or LikenessError)
    fps = Signal(float)
    ready = Signal(str)  # the provider report, once the models are loaded
    failed = Signal(str)
    message = Signal(str)  # a sentence for the status bar
    new_result = Signal()  # wake-up: the results mailbox holds newer faces
    announced = Signal(object)  # a FaceDecision that starts a visit (every one, none dropped)
    verify_update = Signal(object)  # a VerifyUpdate of the camera verification, when it changes

    def __init__(self, make_recognizer, frames: Mailbox, results: Mailbox):
        super().__init__()
        self.make_recognizer, self.frames, self.results = make_recognizer, frames, results
        self.jobs: queue.Queue = queue.Queue()
        self.pending_settings = Mailbox()
        self.verify_requests = Mailbox()  # (claim or None to cancel,)
        self._stop = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.thread().quit()

    def _run(self) -> None:
        try:
            recognizer = self.make_recognizer()
        except Exception as error:
            self.failed.emit(as_sentence(error))
            return self._refuse_jobs(error)
        try:
            if self._stop.is_set():  # closed while the gallery opened: no models to load for nothing
                return
            try:
                provider = recognizer.load_models()  # here, where a model that cannot be loaded is said
            except Exception as error:
                self.failed.emit(as_sentence(error))
                return self._refuse_jobs(error)
            self._observe_frames(recognizer, provider)
        finally:
            recognizer.close()

    def _observe_frames(self, recognizer, provider: str) -> None:
        self.ready.emit(provider)
        for problem in recognizer.problems:
            self.failed.emit(problem)
        meter, last_problem, last_verify = RateMeter(), None, None
        streams = StreamDecisions(recognizer, recognizer.liveness)
        while not self._stop.is_set():
            self._apply_pending_settings(recognizer, streams)
            self._run_jobs(recognizer, streams)
            if (request := self.verify_requests.take()) is not None:
                streams.verify(request[0])
            frame = self.frames.take()
            if frame is None:
                self._stop.wait(IDLE_WAIT_SECONDS)
                continue
            started = time.monotonic()
            try:
                observed = streams.observe(frame.image, frame.timestamp)
            except Exception as error:  # say it once, keep going: the next frame may be fine
                if as_sentence(error) != last_problem:
                    log_unexpected(error, "observing a frame")
                    last_problem = as_sentence(error)
                    self.failed.emit(last_problem)
                continue
            last_problem = None
            times = recognizer.times
            stages = {"detect": times.detect, "align": times.align, "encode": times.encode, "match": times.match,
                      "liveness": times.liveness}
            now = time.monotonic()
            self.results.put(PipelineResult(frame, observed.faces, stages, now, started, recognizer.encoder_id,
                                            observed.identify))
            for decision in observed.identify.announced:
                self.announced.emit(decision)
            for problem in observed.problems:
                self.message.emit(f"The log could not be written: {problem}")
            if observed.verify is not None and observed.verify != last_verify:
                self.verify_update.emit(observed.verify)
            last_verify = observed.verify
            self.new_result.emit()
            self.fps.emit(meter.tick(now))

    def _apply_pending_settings(self, recognizer, streams: StreamDecisions) -> None:
        pending = self.pending_settings.take()  # (Settings, liveness place, the window's gallery)
        if pending is None:
            return
        provider, gallery = recognizer.provider, recognizer.gallery
        try:
            recognizer.apply_settings(*pending)
        except Exception as error:
            log_unexpected(error, "applying new settings")
            self.failed.emit(as_sentence(error))
            return
        if recognizer.gallery is not gallery and gallery is not None:
            gallery.close()  # the window's previous gallery, which its Studio no longer uses
        streams.configure(recognizer.liveness)  # decisions start over with the new rules
        if recognizer.provider != provider:
            self.ready.emit(recognizer.provider)

    def _run_jobs(self, recognizer, streams: StreamDecisions) -> None:
        while not self._stop.is_set():
            try:
                job_id, work = self.jobs.get_nowait()
            except queue.Empty:
                return
            self._apply_pending_settings(recognizer, streams)  # a job asked for after a switch of encoder runs with it
            try:
                result = work(recognizer)
            except Exception as error:
                result = as_likeness_error(error)
            self.job_done.emit(job_id, result)

    def _refuse_jobs(self, error: Exception) -> None:
        """Without models no job can run: answer each with the reason instead of leaving the tabs waiting."""
        reason = as_likeness_error(error, "loading the models")  # logged once, here
        while not self._stop.is_set():
            try:
                job_id, _ = self.jobs.get(timeout=0.1)
            except queue.Empty:
                continue
            self.job_done.emit(job_id, reason)

    def submit(self, job_id, work) -> None:
        """Run work(recognizer) on the pipeline's thread; the answer comes back by job_done."""
        self.jobs.put((job_id, work))

    def stop(self) -> None:
        self._stop.set()


class BackgroundTask(QObject):
    """Runs one slow call (probing webcams, ...) on its own QThread; done carries its result or its error."""

    done = Signal(object)

    def __init__(self, work):
        super().__init__()
        self.work = work

    def run(self) -> None:
        try:
            result = self.work()
        except Exception as error:
            result = as_likeness_error(error)
        self.done.emit(result)
        self.thread().quit()


class BackgroundTasks(QObject):
    """Starts BackgroundTasks and keeps them (and their threads) alive until they have finished."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._running: list[tuple[BackgroundTask, QThread]] = []

    def start(self, work, on_done) -> None:
        """work() on a new thread; on_done(result) on the thread of on_done's owner (pass a widget's method)."""
        self._running = [(task, thread) for task, thread in self._running if not thread.isFinished()]
        task = BackgroundTask(work)
        task.done.connect(on_done)
        self._running.append((task, start_in_thread(task, "background")))

    def wait(self, milliseconds: int) -> bool:
        return all(thread.wait(milliseconds) for _, thread in self._running)

    def threads(self) -> list[QThread]:
        return [thread for _, thread in self._running]


def start_in_thread(worker: QObject, name: str) -> QThread:
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(cast(Any, worker).run)  # every worker has a run() slot
    thread.start()
    return thread
