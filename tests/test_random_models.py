"""Property test: random Keras models either run byte-exact with TFLite Micro or are refused.

Each model of ``random_models.spec(seed, index)`` is converted (int8 or int16x8, int or float
I/O, per-channel or per-tensor weights; cached under build/engine-tests/). Then either the
compiler refuses it with one line ``op N (NAME): reason`` (and ``python -m host.compiler``
exits 2 with that line), or it compiles, the engine gives the wheel's raw outputs on real-like
inputs (CIFAR-10 or KWS features cropped and tiled to the model's input) and random ones, and
its arena is no larger than TFLite Micro's. Anything else (a traceback, a mismatch, a larger
arena) fails and names the seed and index. Models the converter or the wheel itself cannot
handle are counted, not held against the engine. CI checks a few dozen models; the slow run
checks 300, writes build/random-models.json and prints the arena ratios and refusal reasons.
"""

from __future__ import annotations

import collections
import hashlib
import json
import multiprocessing
import re
import subprocess
import sys
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import engine_reference as ref
import numpy as np
import pytest
import random_models

from host import compiler, data
from host.backends.engine import EngineBackend
from host.errors import UserError

CI_SEED, CI_MODELS = 0, 24
SLOW_SEED, SLOW_MODELS = 1, 300
N_REAL, N_RANDOM = 20, 20
REFUSAL = re.compile(r"op \d+ \([A-Z0-9_]+\): \S.*")
SUMMARY = ref.REPO_ROOT / "build" / "random-models.json"
GENERATOR = hashlib.sha256(Path(random_models.__file__).read_bytes()).hexdigest()[:8]

# Runs in a fresh interpreter (the wheel may abort on a model): the arena, then the raw
# outputs of the real-like floats (quantized with the input's parameters unless the model
# takes floats) and of random inputs. Arguments: model, real floats .npy, result .npz.
WHEEL = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
model = open(sys.argv[1], "rb").read()
arena = max(10 * len(model), 16 << 20)  # the wheel's default (10x the file) is too small for some
interpreter = runtime.Interpreter.from_bytes(model, arena_size=arena)
interpreter.print_allocations()
sys.stdout.flush()
details = interpreter.get_input_details(0)
dtype, real = details["dtype"], np.load(sys.argv[2])
rng = np.random.default_rng(11)
if np.issubdtype(dtype, np.floating):
    random = rng.uniform(-1.0, 2.0, size=real.shape).astype(dtype)
    real = real.astype(dtype)
else:
    info = np.iinfo(dtype)
    scale = float(details["quantization_parameters"]["scales"][0])
    zero_point = int(details["quantization_parameters"]["zero_points"][0])
    real = np.clip(np.round(real / scale) + zero_point, info.min, info.max).astype(dtype)
    random = rng.integers(info.min, info.max + 1, size=real.shape, dtype=dtype)
inputs = np.concatenate([real, random])
outputs = []
for example in inputs:
    interpreter.set_input(example[np.newaxis], 0)
    interpreter.invoke()
    outputs.append(interpreter.get_output(0).reshape(-1).copy())
np.savez(sys.argv[3], inputs=inputs, outputs=np.stack(outputs))
"""


@dataclass
class Outcome:
    """What happened to one generated model (the slow run's JSON holds these)."""

    seed: int
    index: int
    layers: list[str]
    precision: str
    io: str
    weights: str
    ops: list[str] = field(default_factory=list)
    result: str = ""  # compiled, refused, converter fails, wheel fails, error
    reason: str = ""  # the refusal, the converter's or wheel's error, or a traceback
    arena: int | None = None
    tflm_arena: int | None = None
    inputs_checked: int = 0
    path: str = ""
    isa: str | None = None


def _real_like(shape: tuple[int, ...], n: int, calibration: bool) -> np.ndarray:
    """Real data in [0, 1] shaped like a model input: CIFAR-10 images (or KWS features for
    sequences) tiled and cropped to the shape, channels repeated."""
    if len(shape) == 2:
        x = data.load("kws", "eval").x.astype(np.float32)[..., 0]  # (N, 49, 10) MFCC int8
        x = (x[-n:] if calibration else x[:n]) + 128.0
    else:
        x = data.load("cifar10", "train" if calibration else "test").x[:n].astype(np.float32)
        if len(shape) == 1:
            x = x.reshape(n, -1)
    x = x / 255.0
    if len(shape) == 3:
        x = x[..., [c % x.shape[-1] for c in range(shape[-1])]]
    reps = [1] + [-(-want // have) for want, have in zip(shape, x.shape[1:], strict=True)]
    x = np.tile(x, reps)
    return np.ascontiguousarray(x[(slice(None), *(slice(0, d) for d in shape))])


def _convert(s: random_models.Spec) -> bytes:
    from host import quantize

    calibration = _real_like(s.input_shape, 32, calibration=True)
    model = random_models.build(s)
    return quantize.convert(
        model, calibration, s.precision, float_io=s.float_io, per_channel=s.per_channel
    )


def _prepare(seed: int, index: int) -> tuple[Outcome, dict | None]:
    """In a worker: convert, compile, build the engine and run the wheel (the slow parts).
    Returns the outcome so far and, for a compiled model, the wheel's inputs and outputs."""
    s = random_models.spec(seed, index)
    outcome = Outcome(
        seed, index, s.describe(), s.precision, "float" if s.float_io else "int",
        "per-channel" if s.per_channel else "per-tensor",
    )  # fmt: skip
    outcome.isa = "portable" if index % 3 == 2 else None
    try:
        path = ref.cached_conversion(f"{s.key}-{GENERATOR}", lambda: _convert(s))
    except Exception as error:  # the converter's limits are not the engine's
        outcome.result, outcome.reason = "converter fails", _first_line(error)
        return outcome, None
    outcome.path, outcome.ops = str(path), sorted(ref.op_names(path))
    try:
        outcome.arena = compiler.compile_model(path).arena_bytes
    except UserError as error:
        outcome.result, outcome.reason = "refused", str(error)
        return outcome, None
    except Exception:
        outcome.result, outcome.reason = "error", traceback.format_exc()
        return outcome, None
    try:
        compiler.host_library(path, outcome.isa)
    except Exception:
        outcome.result, outcome.reason = "error", traceback.format_exc()
        return outcome, None
    with tempfile.TemporaryDirectory() as tmp:
        real = Path(tmp) / "real.npy"
        np.save(real, _real_like(s.input_shape, N_REAL, calibration=False))
        result = Path(tmp) / "result.npz"
        run = subprocess.run(
            [sys.executable, "-c", WHEEL, str(path), str(real), str(result)],
            capture_output=True,
            text=True,
        )
        match = re.search(r"Arena allocation total (\d+) bytes", run.stdout + run.stderr)
        if run.returncode != 0 or match is None:
            outcome.result = "wheel fails"
            died = f"the wheel died (signal {-run.returncode})" if run.returncode < 0 else "?"
            outcome.reason = (run.stderr.strip().splitlines() or [died])[-1]
            return outcome, None
        outcome.tflm_arena = int(match.group(1))
        with np.load(result) as arrays:
            wheel = {"inputs": arrays["inputs"], "outputs": arrays["outputs"]}
    outcome.result = "compiled"
    return outcome, wheel


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def _check(outcome: Outcome, wheel: dict | None) -> list[str]:
    """The problems with one model (empty: fine); runs the engine on the wheel's inputs."""
    name = f"seed {outcome.seed} model {outcome.index} ({', '.join(outcome.layers)})"
    if outcome.result == "error":
        return [f"{name}: {outcome.reason}"]
    if outcome.result == "refused":
        if not REFUSAL.fullmatch(outcome.reason):
            return [f"{name}: refusal is not one 'op N (NAME): reason' line: {outcome.reason!r}"]
        return []
    if outcome.result != "compiled" or wheel is None:
        return []
    problems = []
    if outcome.arena is not None and outcome.tflm_arena is not None:
        if outcome.arena > outcome.tflm_arena:
            problems.append(f"{name}: arena {outcome.arena} > TFLite Micro's {outcome.tflm_arena}")
    try:
        engine = EngineBackend(Path(outcome.path), outcome.precision, isa=outcome.isa)
        ours = engine.invoke(wheel["inputs"]).reshape(len(wheel["inputs"]), -1)
    except Exception:
        return [*problems, f"{name}: the engine failed: {traceback.format_exc()}"]
    reference = wheel["outputs"]
    differ = (
        np.flatnonzero(np.any(ours != reference, axis=1)) if ours.shape == reference.shape else [0]
    )
    if len(differ):
        problems.append(
            f"{name}: {len(differ)} of {len(reference)} outputs differ from the wheel "
            f"(first: input {differ[0]}), {outcome.path}"
        )
    outcome.inputs_checked = len(reference)
    return problems


def _run(seed: int, count: int) -> tuple[list[Outcome], list[str]]:
    """Every model of ``seed`` up to ``count``: the outcomes and the problems found."""
    context = multiprocessing.get_context("spawn")
    outcomes, problems = [], []
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        for outcome, wheel in pool.map(_prepare, [seed] * count, range(count)):
            problems += _check(outcome, wheel)
            outcomes.append(outcome)
    return outcomes, problems


def _command_refuses(outcome: Outcome, tmp: Path) -> list[str]:
    """``python -m host.compiler`` on a refused model: exit 2, the refusal as one stderr line."""
    run = subprocess.run(
        [sys.executable, "-m", "host.compiler", outcome.path, "--out", str(tmp)],
        capture_output=True,
        text=True,
        cwd=ref.REPO_ROOT,
    )
    lines = run.stderr.strip().splitlines()
    prefix = outcome.reason.split("):")[0]  # the supported-op list may grow between the runs
    if run.returncode != 2 or len(lines) != 1 or not lines[0].startswith(f"error: {prefix}):"):
        return [f"seed {outcome.seed} model {outcome.index}: exit {run.returncode}, {lines}"]
    return []


def _summary(outcomes: list[Outcome]) -> str:
    """Counts by result, refusal reasons counted, the arena ratio distribution."""
    lines = [f"{len(outcomes)} models: {dict(collections.Counter(o.result for o in outcomes))}"]
    ratios = [o.arena / o.tflm_arena for o in outcomes if o.arena is not None and o.tflm_arena]
    if ratios:
        q = np.quantile(ratios, [0, 0.25, 0.5, 0.75, 1])
        names = ("min", "q1", "median", "q3", "max")
        lines.append(
            "arena ours/TFLM: " + " ".join(f"{k} {v:.3f}" for k, v in zip(names, q, strict=True))
        )
    reasons = collections.Counter(
        re.sub(r"^op \d+ ", "", o.reason) for o in outcomes if o.result != "compiled"
    )
    lines += [f"{count:4d}  {reason[:150]}" for reason, count in reasons.most_common()]
    return "\n".join(lines)


def test_random_models_match_tflm_or_are_refused(data_dir, tmp_path) -> None:
    outcomes, problems = _run(CI_SEED, CI_MODELS)
    for outcome in [o for o in outcomes if o.result == "refused"][:2]:
        problems += _command_refuses(outcome, tmp_path / f"out-{outcome.index}")
    assert not problems, "\n".join(problems)
    compiled = [o for o in outcomes if o.result == "compiled"]
    assert len(compiled) >= CI_MODELS // 3, _summary(outcomes)  # the test checks something
    assert all(o.inputs_checked == N_REAL + N_RANDOM for o in compiled)


@pytest.mark.slow
def test_random_models_many(data_dir, tmp_path) -> None:
    outcomes, problems = _run(SLOW_SEED, SLOW_MODELS)
    for outcome in [o for o in outcomes if o.result == "refused"][:10]:
        problems += _command_refuses(outcome, tmp_path / f"out-{outcome.index}")
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    print(_summary(outcomes))
    assert not problems, "\n".join(problems)
