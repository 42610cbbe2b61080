"""The one place that knows the model files and the devices that run them.

Model files live in resources/models/. Their expected sha256 sums are in
resources/models/checksums.sha256 (the format of `sha256sum`, so `sha256sum -c` checks them too);
the tools in tools/ that produce a model file also write its line there.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import platform
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .config import data_dir, make_data_dir
from .errors import ModelUnavailable
from .logs import log_unexpected

MODELS_DIR = Path(__file__).resolve().parent.parent / "resources" / "models"
CHECKSUMS = MODELS_DIR / "checksums.sha256"


def expected_checksums(checksums_file: Path = CHECKSUMS) -> dict[str, str]:
    """File name -> expected sha256, read from a `sha256sum`-style file."""
    sums = {}
    if checksums_file.exists():
        for line in checksums_file.read_text().splitlines():
            if line.strip():
                digest, name = line.split(maxsplit=1)
                sums[name.lstrip("*").strip()] = digest
    return sums


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_HASHES_LOCK = threading.Lock()


@lru_cache(maxsize=None)
def _verified(path: Path, size: int, mtime_ns: int, expected: str) -> bool:
    """Whether the file's sha256 is `expected`. A file hashed before with the same size and modification time is
    not hashed again (every start would hash all models: 66 ms): its sum is remembered in the data folder."""
    key = f"{path.resolve()}|{size}|{mtime_ns}"
    with _HASHES_LOCK:  # the detector's and the encoders' sessions are made on several threads at once
        remembered = _hashes_file()
        try:
            known = json.loads(remembered.read_text())
        except (OSError, ValueError):
            known = {}
        if not isinstance(known, dict):
            known = {}
        if known.get(key) != expected:
            digest = file_sha256(path)
            if digest != expected:
                return False
            known[key] = digest
            with contextlib.suppress(OSError):  # a read-only data folder only costs the hashing
                make_data_dir()
                _write_whole(remembered, json.dumps(known).encode())
    return True


def _write_whole(path: Path, data: bytes) -> None:
    """Write beside, then rename: a reader (or a crash) never sees half a file; raises OSError."""
    draft = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    draft.write_bytes(data)
    draft.replace(path)


def _hashes_file() -> Path:
    return data_dir() / "model-hashes.json"


def model_path(filename: str, models_dir: Path = MODELS_DIR) -> Path:
    """Path of a model file, checked against its recorded sha256.

    Raises ModelUnavailable with one sentence when the file is missing, unknown or damaged.
    """
    path = models_dir / filename
    expected = expected_checksums(models_dir / CHECKSUMS.name).get(filename)
    if expected is None:
        raise ModelUnavailable(f"The model {filename} has no recorded checksum in {CHECKSUMS.name}.")
    if not path.is_file():
        raise ModelUnavailable(f"The model file {path} is missing; reinstall Likeness or rerun its tool in tools/.")
    stat = path.stat()
    if not _verified(path, stat.st_size, stat.st_mtime_ns, expected):
        raise ModelUnavailable(
            f"The model file {path} is damaged (its sha256 does not match); reinstall Likeness or rerun its tool in tools/."
        )
    return path


def weights_id(shipped_file: str, model_file: Path | None = None) -> str:
    """Names a model's weights "<file stem>:<sha256 prefix>": model_file's, or without one the shipped file's, from
    its recorded checksum (no hashing). Embeddings of models with different ids must never be compared."""
    if model_file is None:
        digest = expected_checksums().get(shipped_file)
        if digest is None:
            raise ModelUnavailable(f"The model {shipped_file} has no recorded checksum.")
        return f"{Path(shipped_file).stem}:{digest[:12]}"
    if not Path(model_file).is_file():
        raise ModelUnavailable(f"The encoder {model_file} does not exist.")
    return f"{Path(model_file).stem}:{file_sha256(Path(model_file))[:12]}"


@dataclass(frozen=True)
class ProviderReport:
    """Which ONNX Runtime provider really runs a session, and why."""

    provider: str  # "CUDA" or "CPU"
    reason: str

    def __str__(self) -> str:
        return f"{self.provider} ({self.reason})"


def _cuda_problem() -> str | None:
    """Why the CUDA provider cannot run here, in words, or None if it might."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "this onnxruntime build has no CUDA provider"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return "CUDA_VISIBLE_DEVICES hides every GPU"
    if not _cuda_driver_loads():
        return "no NVIDIA driver (libcuda) was found"
    return None


@lru_cache(maxsize=1)
def _cuda_driver_loads() -> bool:
    """Whether the NVIDIA driver's library can be loaded, asked once a process (ctypes.util.find_library runs
    ldconfig, 25 ms for each model's session)."""
    for name in ("libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1", "nvcuda.dll"):
        with contextlib.suppress(OSError):
            ctypes.CDLL(name)
            return True
    return False


@lru_cache(maxsize=1)
def int8_products_saturate() -> bool:
    """Whether ONNX Runtime's CPU kernels for uint8 activations times int8 weights can saturate on this CPU.

    x86-64 without VNNI multiplies them in pairs summed into 16 bits (vpmaddubsw), which overflow: the INT8
    FaceNet gave cosine 0.68-0.99 to TensorFlow's embedding on an AMD EPYC with AVX2 (>= 0.999 on a CPU with
    VNNI, or with uint8 weights). OpenVINO documents the same trap for SSE, AVX2 and AVX-512 without VNNI."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False  # ARM's dot products accumulate in 32 bits
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    if flags:
        return not flags & {"avx512_vnni", "avx_vnni"}
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:
        return True  # unknown: the exact path
    return not __cpu_features__.get("AVX512VNNI", False)


def exact_int8_file(model_file: Path) -> Path | bytes:
    """exact_int8_model of the file, kept in the data folder (models/) with its sha256 beside it: making it imports
    the onnx package, which takes a second, so it is made once a machine. Where it cannot be kept (a read-only or
    full disk), the model itself."""
    digest = expected_checksums().get(model_file.name) if model_file.parent == MODELS_DIR else None
    kept = data_dir() / "models" / f"{model_file.stem}-{(digest or file_sha256(model_file))[:12]}-exact.onnx"
    recorded = kept.with_suffix(".sha256")
    with contextlib.suppress(OSError):  # not made yet, or its sum gone
        stat = kept.stat()
        if _verified(kept, stat.st_size, stat.st_mtime_ns, recorded.read_text().strip()):
            return kept
    model = exact_int8_model(model_file)
    with contextlib.suppress(OSError):
        make_data_dir()
        kept.parent.mkdir(exist_ok=True)
        _write_whole(kept, model)
        _write_whole(recorded, hashlib.sha256(model).hexdigest().encode())
        return kept
    return model


def exact_int8_model(model_file: Path) -> bytes:
    """The model with its int8 weights stored as uint8 (+128, zero points likewise): the same numbers, which ONNX
    Runtime multiplies with its uint8 x uint8 kernels, which cannot saturate. The file, and so the encoder's id,
    is unchanged; the embeddings are those of a CPU with VNNI."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(model_file))
    constants = {tensor.name: tensor for tensor in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in constants:
            continue
        for name in node.input[0::2]:  # the values and the zero point
            tensor = constants.get(name)
            if tensor is not None and tensor.data_type == onnx.TensorProto.INT8:
                shifted = numpy_helper.to_array(tensor).astype(np.int16) + 128
                tensor.CopyFrom(numpy_helper.from_array(shifted.astype(np.uint8), name))
    return model.SerializeToString()


def onnx_session(model_file: Path, use_gpu: bool = True, intra_op_threads: int | None = None,
                 int8_weights: bool = False):
    """Create an ONNX Runtime session on CUDA when it really works, else on the CPU.

    Returns (session, ProviderReport). A missing CUDA or cuDNN library becomes the report's reason,
    never an exception. intra_op_threads caps the CPU threads one run uses (None: ONNX Runtime's default,
    one per core); small models run faster on one thread than on threads that other work also wants.
    int8_weights: the model may hold INT8 weights; on a CPU where their products saturate it runs as
    exact_int8_model (made once, then read from the data folder).
    """
    import onnxruntime as ort

    ort.disable_telemetry_events()  # "only on this machine": ONNX Runtime records and sends nothing
    options = ort.SessionOptions()
    if intra_op_threads is not None:
        options.intra_op_num_threads = intra_op_threads
    # threads that spin after a run steal the cores the next model needs (detector, then two encoders at once)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # ORT prints its own CUDA warnings otherwise; we report in words
    problem = "GPU use is off in the settings" if not use_gpu else _cuda_problem()
    if problem is None:
        try:
            session = ort.InferenceSession(
                str(model_file), options, providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
            )
        except Exception as error:  # a broken CUDA install must not stop the app
            log_unexpected(error, f"starting the CUDA provider for {model_file.name}")
            problem = f"the CUDA provider failed to start ({str(error).splitlines()[0][:160]})"
        else:
            if session.get_providers()[0] == "CUDAExecutionProvider":
                return session, ProviderReport("CUDA", "GPU available")
            problem = "the CUDA provider could not load its libraries (CUDA or cuDNN missing)"
    try:
        model = exact_int8_file(model_file) if int8_weights and int8_products_saturate() else model_file
        session = ort.InferenceSession(model if isinstance(model, bytes) else str(model), options,
                                       providers=["CPUExecutionProvider"])
    except Exception as error:
        log_unexpected(error, f"loading {model_file}")
        raise ModelUnavailable(f"ONNX Runtime cannot load {model_file.name}: {str(error).splitlines()[0]}") from error
    return session, ProviderReport("CPU", problem)


def torch_device(use_gpu: bool = True):
    """The torch device for training and style transfer: CUDA when present and allowed, else CPU."""
    import torch

    return torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
