"""Bad input to every command: one line on stderr, exit code 2, before any work.

Each row calls a command's ``main(argv)`` in this process (no interpreter start, no model
loaded: the checks come first) and expects exit code 2, exactly one line on stderr, starting
``error:``, holding the row's message, and no file written in the working folder or ``--out``.
``{file}`` in a row is a plain file, ``{bad_tflite}`` a file that is not a model, ``{toml:X}``
a campaign file with mistake X (``CAMPAIGN_MISTAKES``; the message names its line).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from host import bench, campaign, data, emulator, evaluate, flash, quantize, train
from host.attacks import ATTACKS
from host.compiler.__main__ import main as compiler_main
from host.errors import TinyRobustWarning
from host.report.__main__ import main as report_main
from host.run.evaluation import select_examples

COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "evaluate": evaluate.main,
    "campaign": campaign.main,
    "report": report_main,
    "compiler": compiler_main,
    "bench": bench.main,
    "train": train.main,
    "quantize": quantize.main,
    "flash": flash.main,
    "emulator": emulator.main,
}

CAMPAIGN = """\
name = "bad"
models = ["cifar10-resnet8"]
backends = ["float", "tflm-int8"]
seed = 0

[sample]
n = 2

[[attack]]
name = "pgd"
eps = [0.002]
"""

# mistake: (line replaced, replacement, line of the error)
CAMPAIGN_MISTAKES = {
    "eps above 1": ("eps = [0.002]", "eps = [0.002, 1.5]", 11),
    "negative eps": ("eps = [0.002]", "eps = [-0.1]", 11),
    "param not an int": ("eps = [0.002]", 'eps = [0.002]\nparams = { max_iter = "abc" }', 12),
    "param a list": ("eps = [0.002]", "eps = [0.002]\nparams = { max_iter = [1, 2] }", 12),
    "param negative": ("eps = [0.002]", "eps = [0.002]\nparams = { max_iter = -1 }", 12),
    "param ratio zero": ("eps = [0.002]", "eps = [0.002]\nparams = { step_ratio = 0 }", 12),
    "unknown param": ("eps = [0.002]", "eps = [0.002]\nparams = { steps = 3 }", 12),
    "negative seed": ("seed = 0", "seed = -1", 4),
    "seed not an int": ("seed = 0", 'seed = "x"', 4),
    "negative sample seed": ("n = 2", "n = 2\nseed = -3", 8),
    "zero n": ("n = 2", "n = 0", 7),
    "zero queries": ("eps = [0.002]", "eps = [0.002]\nqueries = 0", 12),
    "negative eps steps": ("eps = [0.002]", "eps_steps = [-1]", 11),
    "unknown attack": ('name = "pgd"', 'name = "fab"', 10),
    "bad norm": ('name = "pgd"', 'name = "pgd"\nnorm = "l7"', 11),
    "not TOML": ("seed = 0", "seed = = 0", 4),
}

ATTACK = ("--attacks", "pgd", "--eps", "0.01")
MODEL = ("--model", "cifar10-resnet8")


def _param(attack: str, item: str, eps: str = "0.01") -> list[str]:
    return ["--attacks", attack, "--eps", eps, "--param", f"{attack}.{item}"]


ROWS: list[tuple[str, list[str], str]] = [
    # evaluate, campaign: Ray (host.run.cluster)
    ("evaluate", ["--workers", "0", *ATTACK], "--workers must be positive, got 0"),
    ("evaluate", ["--workers", "x"], "--workers must be an integer"),
    ("evaluate", ["--ray-address", "no port", *ATTACK], "--ray-address must be HOST:PORT"),
    ("evaluate", ["--ray-address", "127.0.0.1:1", *ATTACK], "no Ray cluster answers at"),
    ("evaluate", ["--clean", "--workers", "2"], "--workers runs campaigns"),
    ("evaluate", ["--clean", "--ray-address", "auto"], "--ray-address runs campaigns"),
    ("campaign", [*MODEL, *ATTACK, "--workers", "-1"], "--workers must be positive"),
    ("campaign", [*MODEL, *ATTACK, "--ray-address", "127.0.0.1:1"], "no Ray cluster answers"),
    # evaluate: integer options
    ("evaluate", ["--seed", "-1", *ATTACK], "--seed must be >= 0, got -1"),
    ("evaluate", ["--seed", "abc", *ATTACK], "--seed must be an integer, got 'abc'"),
    ("evaluate", ["--seed", "1.5", *ATTACK], "--seed must be an integer"),
    ("evaluate", ["--seed", "-1", "--clean"], "--seed must be >= 0"),
    ("evaluate", ["--n", "0"], "--n must be positive, got 0"),
    ("evaluate", ["--n", "-3", *ATTACK], "--n must be positive, got -3"),
    ("evaluate", ["--n", "abc"], "--n must be an integer, got 'abc'"),
    ("evaluate", ["--n", "1e3"], "--n must be an integer"),
    ("evaluate", ["--queries", "0", *ATTACK], "--queries must be positive, got 0"),
    ("evaluate", ["--queries", "-5", *ATTACK], "--queries must be positive"),
    ("evaluate", ["--sample-seed", "-2"], "--sample-seed must be >= 0, got -2"),
    ("evaluate", ["--sample-seed", "x"], "--sample-seed must be an integer"),
    ("evaluate", ["--input-range", "0"], "--input-range must be a finite number > 0"),
    ("evaluate", ["--input-range", "nan"], "--input-range must be a finite number > 0"),
    ("evaluate", ["--input-range", "-1"], "--input-range must be a finite number > 0"),
    # evaluate: eps
    ("evaluate", ["--attacks", "pgd", "--eps", "1.5"], "eps must be in [0, 1] for linf"),
    ("evaluate", ["--attacks", "pgd", "--eps", "2"], "attack pgd (linf): eps must be in [0, 1]"),
    ("evaluate", ["--attacks", "pgd", "--eps", "0.1,1.01"], "got 1.01"),
    ("evaluate", ["--attacks", "fgsm", "--eps", "3"], "attack fgsm (linf)"),
    ("evaluate", ["--attacks", "pgd", "--eps", "-0.1"], "eps must be a finite number >= 0"),
    ("evaluate", ["--attacks", "pgd", "--eps", "nan"], "eps must be a finite number >= 0"),
    ("evaluate", ["--attacks", "pgd", "--eps", "inf"], "eps must be a finite number >= 0"),
    ("evaluate", ["--attacks", "pgd", "--eps", "abc"], "--eps takes comma-separated numbers"),
    ("evaluate", ["--attacks", "pgd", "--eps-steps", "-1"], "--eps-steps: eps must be a finite"),
    ("evaluate", ["--attacks", "pgd", "--eps-steps", "x"], "--eps-steps takes comma-separated"),
    ("evaluate", ["--attacks", "square-l2", "--eps", "-1"], "attack square-l2 (l2): eps must"),
    ("evaluate", ["--attacks", "pgd,square-linf", "--eps", "5"], "attack pgd (linf)"),
    ("evaluate", ["--attacks", "pgd"], "need --eps or --eps-steps"),
    # evaluate: --param, every attack
    ("evaluate", _param("pgd", "max_iter=abc"), "attack pgd: parameter max_iter takes an integer"),
    ("evaluate", _param("pgd", "max_iter=[1,2]"), "max_iter takes an integer >= 1, got [1, 2]"),
    ("evaluate", _param("pgd", "max_iter=-5"), "max_iter takes an integer >= 1, got -5"),
    ("evaluate", _param("pgd", "max_iter=0"), "max_iter takes an integer >= 1, got 0"),
    ("evaluate", _param("pgd", "max_iter=2.5"), "max_iter takes an integer >= 1, got 2.5"),
    ("evaluate", _param("pgd", "max_iter=true"), "got True"),
    ("evaluate", _param("pgd", "max_iter=null"), "got None"),
    ("evaluate", _param("pgd", "step_ratio=0"), "step_ratio takes a number > 0, got 0"),
    ("evaluate", _param("pgd", "step_ratio=-1"), "step_ratio takes a number > 0"),
    ("evaluate", _param("pgd", "step_ratio=abc"), "step_ratio takes a number > 0, got 'abc'"),
    ("evaluate", _param("pgd", "step_ratio=NaN"), "step_ratio takes a number > 0, got nan"),
    ("evaluate", _param("pgd", "random_init=-1"), "random_init takes an integer >= 0"),
    ("evaluate", _param("pgd", "batch_size=0"), "batch_size takes an integer >= 1"),
    ("evaluate", _param("pgd", "steps=3"), "attack pgd has no parameter steps"),
    ("evaluate", [*ATTACK, "--param", "pgd.max_iter"], "--param takes ATTACK.KEY=VALUE"),
    ("evaluate", [*ATTACK, "--param", "max_iter=3"], "--param takes ATTACK.KEY=VALUE"),
    ("evaluate", [*ATTACK, "--param", "fgsm.batch_size=1"], "'fgsm' is not in --attacks"),
    ("evaluate", _param("fgsm", "batch_size=-1"), "attack fgsm: parameter batch_size"),
    ("evaluate", _param("deepfool", "overshoot=-0.1"), "overshoot takes a number >= 0"),
    ("evaluate", _param("deepfool", "nb_grads=0"), "nb_grads takes an integer >= 1"),
    ("evaluate", _param("jsma", "gamma=0"), "gamma takes a number in (0, 1], got 0"),
    ("evaluate", _param("jsma", "gamma=1.5"), "gamma takes a number in (0, 1]"),
    ("evaluate", _param("jsma", "theta=2"), "theta takes a number in [-1, 1]"),
    ("evaluate", _param("cw-l2", "learning_rate=0"), "learning_rate takes a number > 0"),
    ("evaluate", _param("cw-l2", "binary_search_steps=-1"), "binary_search_steps takes"),
    ("evaluate", _param("cw-l2", "confidence=-1"), "confidence takes a number >= 0"),
    (
        "evaluate",
        _param("cw-linf", "decrease_factor=1"),
        "decrease_factor takes a number in (0, 1)",
    ),
    ("evaluate", _param("cw-linf", "const_factor=1"), "const_factor takes a number > 1"),
    ("evaluate", _param("ead", 'decision_rule="X"'), "decision_rule takes one of EN, L1, L2"),
    ("evaluate", _param("ead", "beta=-1"), "attack ead: parameter beta takes a number >= 0"),
    ("evaluate", _param("autoattack", "apgd_iter=0"), "apgd_iter takes an integer >= 1"),
    ("evaluate", _param("autoattack", "square_iter=x"), "square_iter takes an integer >= 1"),
    ("evaluate", _param("zoo", "abort_early=1"), "abort_early takes true or false, got 1"),
    ("evaluate", _param("zoo", "variable_h=0"), "variable_h takes a number > 0"),
    ("evaluate", _param("zoo", "nb_parallel=0"), "nb_parallel takes an integer >= 1"),
    ("evaluate", _param("square-linf", "p_init=1"), "p_init takes a number in (0, 1), got 1"),
    ("evaluate", _param("square-linf", "p_init=0"), "p_init takes a number in (0, 1)"),
    ("evaluate", _param("square-linf", "nb_restarts=0"), "nb_restarts takes an integer >= 1"),
    ("evaluate", _param("square-l2", "max_iter=[5]"), "attack square-l2: parameter max_iter"),
    ("evaluate", _param("boundary", "step_adapt=1"), "step_adapt takes a number in (0, 1)"),
    ("evaluate", _param("boundary", "delta=0"), "delta takes a number > 0"),
    ("evaluate", _param("geoda", "max_iter=100"), "max_iter takes an integer >= 250, got 100"),
    ("evaluate", _param("geoda", "sigma=0"), "sigma takes a number > 0"),
    ("evaluate", _param("hopskipjump", "max_eval=0"), "max_eval takes an integer >= 1"),
    # evaluate: attacks, modes, backends
    ("evaluate", ["--attacks", "fab", "--eps", "0.01"], "unknown attack 'fab'"),
    ("evaluate", ["--attacks", ",", "--eps", "0.01"], "--attacks is empty"),
    ("evaluate", ["--attacks", "deepfool", "--norm", "linf"], "does not support norm linf"),
    ("evaluate", [*ATTACK, "--norm", "l7"], "does not support norm l7"),
    ("evaluate", [*ATTACK, "--mode", "direct", "--backends", "float"], "needs an integer --oracle"),
    ("evaluate", [*ATTACK, "--oracle", "tflm-int8"], "use direct"),
    ("evaluate", ["--attacks", "diva", "--eps", "0.01"], "diva crafts against an integer model"),
    ("evaluate", [*ATTACK, "--mode", "sideways"], "argument --mode: invalid choice"),
    ("evaluate", [*ATTACK, "--backends", "float,nosuch"], "unknown backend 'nosuch'"),
    ("evaluate", ["--backends", "tflm-int3"], "unknown backend 'tflm-int3'"),
    ("evaluate", ["--backends", ","], "--backends is empty"),
    (
        "evaluate",
        ["--attacks", "square-linf", "--eps", "0.01", "--mode", "direct", "--oracle", "float"],
        "--mode direct attacks an integer backend",
    ),
    # evaluate: options that need --attacks, and option combinations
    ("evaluate", ["--eps", "0.1"], "--eps needs --attacks"),
    ("evaluate", ["--eps-steps", "1"], "--eps-steps needs --attacks"),
    ("evaluate", ["--param", "pgd.max_iter=3"], "--param needs --attacks"),
    ("evaluate", ["--queries", "5"], "--queries needs --attacks"),
    ("evaluate", ["--norm", "l2"], "--norm needs --attacks"),
    ("evaluate", ["--oracle", "tflm-int8"], "--oracle needs --attacks"),
    ("evaluate", ["--mode", "direct"], "--mode needs --attacks"),
    ("evaluate", [*ATTACK, "--sample-seed", "3"], "--sample-seed is for clean evaluation"),
    ("evaluate", ["--campaign", "x.toml", *ATTACK], "not with --campaign"),
    ("evaluate", ["--campaign", "x.toml", "--clean"], "drop the clean-only options"),
    ("evaluate", ["--model", "a", "--tflite", "b"], "not allowed with argument --model"),
    ("evaluate", ["--bogus"], "unrecognized arguments: --bogus"),
    # evaluate: files, folders, models, data
    ("evaluate", ["--clean", "--out", "{file}"], "--out {file}: cannot write there"),
    ("evaluate", ["--clean", "--out", "{file}/runs"], "cannot write there (Not a directory)"),
    ("evaluate", [*ATTACK, "--out", "{file}/runs"], "--out {file}/runs: cannot write there"),
    ("evaluate", ["--out", "{file}/runs"], "--out {file}/runs: cannot write there"),
    ("evaluate", ["--model", "nosuch", "--clean"], "unknown model 'nosuch'"),
    ("evaluate", ["--model", "nosuch", *ATTACK], "unknown model 'nosuch'"),
    ("evaluate", ["--tflite", "{bad_tflite}"], "a .tflite model needs a --dataset"),
    ("evaluate", ["--tflite", "{bad_tflite}", "--dataset", "imagenet"], "unknown data set"),
    ("evaluate", ["--tflite", "{bad_tflite}", "--dataset", "cifar10"], "not a TFLite flatbuffer"),
    ("evaluate", ["--tflite", "{file}.tflite", "--dataset", "cifar10"], "does not exist"),
    ("evaluate", ["--clean", "--split", "nosplit"], "has no split 'nosplit'"),
    ("evaluate", ["--clean", "--data-dir", "{file}/none"], "does not exist"),
    ("evaluate", ["--resume", "{file}/none"], "is not a run folder to resume"),
    ("evaluate", [*ATTACK, "--resume", "{file}/none"], "is not a run folder to resume"),
    ("evaluate", ["--campaign", "{file}/none.toml"], "cannot be read"),
    ("evaluate", ["--campaign", "{bad_tflite}"], "not valid TOML"),
    ("evaluate", ["--n", "0", "--campaign", "{toml:eps above 1}"], "--n must be positive"),
    ("evaluate", ["--seed", "-4", "--campaign", "{toml:eps above 1}"], "--seed must be >= 0"),
    # campaign files: the same checks, at FILE:LINE
    *(
        ("evaluate", ["--campaign", f"{{toml:{mistake}}}"], f"{{toml:{mistake}}}:{line}: ")
        for mistake, (_, _, line) in CAMPAIGN_MISTAKES.items()
    ),
    # host.campaign
    ("campaign", [*ATTACK], "the following arguments are required: --model"),
    ("campaign", [*MODEL, "--attacks", "pgd", "--eps", "2"], "eps must be in [0, 1] for linf"),
    ("campaign", [*MODEL, *ATTACK, "--seed", "-1"], "--seed must be >= 0, got -1"),
    ("campaign", [*MODEL, *ATTACK, "--n", "0"], "--n must be positive"),
    ("campaign", [*MODEL, *ATTACK, "--queries", "0"], "--queries must be positive"),
    ("campaign", [*MODEL, *_param("pgd", "max_iter=abc")], "max_iter takes an integer >= 1"),
    ("campaign", [*MODEL, *_param("pgd", "max_iter=[1,2]")], "got [1, 2]"),
    ("campaign", [*MODEL, *ATTACK, "--out", "{file}/run"], "--out {file}/run: cannot write"),
    ("campaign", ["--model", "nosuch", *ATTACK], "unknown model 'nosuch'"),
    ("campaign", [*MODEL, *ATTACK, "--backends", "float,nosuch"], "unknown backend 'nosuch'"),
    ("campaign", [*MODEL, "--attacks", "square-l2", "--eps", "nan"], "eps must be a finite"),
    ("campaign", [*MODEL, "--attacks", "pgd"], "need --eps or --eps-steps"),
    # host.report
    ("report", ["{file}/none"], "no run folder"),
    ("report", ["{empty}"], "is not a run folder"),
    ("report", ["a", "b"], "unrecognized arguments: b"),
    # host.compiler
    ("compiler", ["{file}/none.tflite", "--out", "out"], "does not exist"),
    ("compiler", ["{bad_tflite}", "--out", "out"], "not a TFLite flatbuffer"),
    ("compiler", ["{bad_tflite}"], "the following arguments are required: --out"),
    ("compiler", ["{bad_tflite}", "--out", "{file}/out"], "--out {file}/out: cannot write there"),
    # host.bench
    ("bench", ["-n", "0"], "-n must be positive, got 0"),
    ("bench", ["-n", "abc"], "-n must be an integer"),
    ("bench", ["--board", "nosuch"], "unknown board 'nosuch'"),
    ("bench", ["--board", "disco-f407vg"], "disco-f407vg is a real board"),
    ("bench", ["--out", "{file}/runs"], "--out {file}/runs: cannot write there"),
    ("bench", ["--models", "nosuch"], "unknown model 'nosuch'"),
    # host.train
    ("train", [], "the following arguments are required: --model"),
    ("train", ["--model", "nosuch"], "argument --model: invalid choice: 'nosuch'"),
    ("train", ["--model", "cifar10-resnet8", "--seed", "-1"], "--seed must be >= 0"),
    ("train", ["--model", "cifar10-resnet8", "--epochs", "0"], "--epochs must be positive"),
    ("train", ["--model", "cifar10-resnet8", "--limit", "0"], "--limit must be positive"),
    ("train", ["--model", "cifar10-resnet8", "--limit", "abc"], "--limit must be an integer"),
    ("train", ["--model", "cifar10-resnet8", "--out", "{file}/m"], "--out {file}/m: cannot write"),
    # host.quantize
    ("quantize", [], "the following arguments are required: --model"),
    ("quantize", ["--model", "nosuch"], "unknown model 'nosuch'"),
    ("quantize", [*MODEL, "--precisions", "int4"], "--precisions takes a comma-separated list"),
    ("quantize", [*MODEL, "--precisions", ","], "--precisions takes a comma-separated list"),
    # flash and emulator: boards, ports, firmware files, subcommands
    ("flash", ["--board", "nope"], "unknown board 'nope'"),
    ("flash", ["--port", "abc"], "port must be a TCP port number from 1 to 65535, got 'abc'"),
    ("flash", ["--port", "99999"], "port must be a TCP port number from 1 to 65535"),
    ("flash", ["--port", "0"], "port must be a TCP port number from 1 to 65535"),
    ("flash", ["--bogus"], "unrecognized arguments: --bogus"),
    ("emulator", [], "the following arguments are required"),
    ("emulator", ["restart"], "invalid choice: 'restart'"),
    ("emulator", ["start", "--port", "99999"], "port must be a TCP port number from 1 to 65535"),
    ("emulator", ["start", "--port", "-1"], "port must be a TCP port number from 1 to 65535"),
    ("emulator", ["start", "--board", "nope"], "unknown board 'nope'"),
    ("emulator", ["start", "--elf", "{empty}/missing.elf"], "does not exist"),
    ("emulator", ["start", "--elf", "{file}"], "not a valid ARM executable"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """The paths rows refer to: a plain file, a file that is no model, an empty folder and one
    campaign file per mistake."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "file").write_text("not a folder\n")
    (root / "bad.tflite").write_text("not a model\n")
    (root / "empty").mkdir()
    paths = {"file": root / "file", "bad_tflite": root / "bad.tflite", "empty": root / "empty"}
    for i, (mistake, (old, new, _)) in enumerate(CAMPAIGN_MISTAKES.items()):
        assert old in CAMPAIGN
        paths[f"toml:{mistake}"] = root / f"mistake{i}.toml"
        paths[f"toml:{mistake}"].write_text(CAMPAIGN.replace(old, new))
    return {name: str(path) for name, path in paths.items()}


def _filled(text: str, files: dict[str, str]) -> str:
    for name, path in files.items():
        text = text.replace("{" + name + "}", path)
    return text


def _written(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


@pytest.mark.parametrize("command, argv, message", ROWS)
def test_bad_input_is_one_line_exit_2_before_any_work(
    command, argv, message, files, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)  # default --out folders land here: nothing may be written
    monkeypatch.delenv("TINYROBUST_DEVICE", raising=False)
    before = _written(Path(files["file"]).parent)
    code = COMMANDS[command]([_filled(arg, files) for arg in argv])
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert _filled(message, files) in lines[0]
    assert _written(tmp_path) == [] and _written(Path(files["file"]).parent) == before


def test_the_table_covers_every_command_with_100_rows() -> None:
    assert len(ROWS) >= 100
    assert {command for command, _, _ in ROWS} == set(COMMANDS)


def test_every_attack_parameter_has_a_limit_its_default_meets() -> None:
    for name, attack in ATTACKS.items():
        assert set(attack.limits) == set(attack.defaults), name
        for key, value in attack.defaults.items():
            assert attack.limits[key].check(name, key, value) == value, (name, key)


def test_argparse_errors_do_not_exit(capsys) -> None:
    """A bad option is the command's one line, not argparse's usage text and SystemExit."""
    assert evaluate.main(["--n"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err and "expected one argument" in err


def test_n_above_the_split_is_a_printed_clamp() -> None:
    """--n (or a campaign file's n) above the split's size: all of it, with a note saying so."""
    dataset = data.load_sample("cifar10", "test")
    with pytest.warns(TinyRobustWarning, match=f"n is 100000, more than the {len(dataset)} "):
        assert len(select_examples(dataset, 100000, None)) == len(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(select_examples(dataset, len(dataset), None)) == len(dataset)
