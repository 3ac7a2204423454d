"""Attacks on a small sample: every registered attack runs, and sanity checks that can fail.

MLPerf ResNet-8 (float, white-box via its logits) and its int8 model on LiteRT's default kernels
(fast; the same lattice as TFLite Micro) are the oracles. Budgets are tiny; heavier variants are
marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest

from host import data, zoo
from host.attacks import ATTACKS, Oracle, make_attack
from host.attacks.base import (
    DecisionAttack,
    FixedEpsilonAttack,
    GradientAttack,
    MinimizationAttack,
    QueryAttack,
    ScoreAttack,
    TargetedAttack,
)
from host.attacks.criteria import Misclassification, TargetedMisclassification
from host.attacks.oracles import QueryBudget, QueryBudgetExhausted
from host.attacks.threat import (
    distortion,
    finite_difference_step,
    lattice_distortion,
    project,
    step_of,
    to_lattice,
)
from host.backends import get_backend
from host.errors import UserError
from host.run.campaign import seeded_random_states

MODEL = "mlperf-resnet8"
N = 8
PAPER_ATTACKS = {
    "pgd",
    "fgsm",
    "deepfool",
    "jsma",
    "cw-l2",
    "cw-linf",
    "ead",
    "autoattack",
    "zoo",
    "square-linf",
    "square-l2",
    "boundary",
    "geoda",
    "hopskipjump",
}
# Tiny budgets for CI: every attack runs end to end in seconds.
SMALL = {
    "pgd": {"max_iter": 10},
    "fgsm": {},
    "deepfool": {"max_iter": 10, "nb_grads": 3},
    "jsma": {"gamma": 0.05},
    "cw-l2": {"binary_search_steps": 2, "max_iter": 5},
    "cw-linf": {"max_iter": 3, "initial_const": 1.0, "largest_const": 2.0, "decrease_factor": 0.3},
    "ead": {"binary_search_steps": 1, "max_iter": 10, "initial_const": 1.0},
    "autoattack": {"apgd_iter": 5, "square_iter": 20},
    "zoo": {"max_iter": 2, "nb_parallel": 32},
    "square-linf": {"max_iter": 30},
    "square-l2": {"max_iter": 30},
    "boundary": {"max_iter": 10, "num_trial": 5, "sample_size": 5, "init_size": 20},
    "geoda": {"max_iter": 300, "sub_dim": 5},
    "hopskipjump": {"max_iter": 2, "max_eval": 40, "init_eval": 10, "init_size": 20},
}
EPS = 8 / 255
BUDGET = 120


@pytest.fixture(scope="module")
def sample(data_dir) -> tuple[np.ndarray, np.ndarray]:
    dataset = data.load("cifar10", "test").take(32)
    return dataset.x.astype(np.float32) / np.float32(255.0), dataset.y


@pytest.fixture(scope="module")
def float_oracle() -> Oracle:
    return Oracle(get_backend(MODEL, "float"), 10, zoo.model_file(MODEL, "float"), BUDGET)


@pytest.fixture(scope="module")
def int8_oracle() -> Oracle:
    return Oracle(get_backend(MODEL, "litert-int8"), 10, None, BUDGET)


def _run(attack_name, oracle, x, y, epsilons=None, **params):
    """The attack with seed 3; HopSkipJump's and Boundary's starting points seeded from it as
    in a campaign (else they come from the OS: a failed start once failed a test in CI)."""
    attack = make_attack(attack_name, **{**SMALL[attack_name], **params})
    if epsilons is None:
        epsilons = [EPS] if attack.bounded else [None]
    with seeded_random_states():
        return attack(oracle, x, y, epsilons, seed=3, targets=(y + 1) % 10)


def _rate(result) -> float:
    return float(np.mean(result.success))


# ---------------------------------------------------------------- threat model


def test_registry_has_every_attack_of_the_paper() -> None:
    assert PAPER_ATTACKS <= set(ATTACKS)


def test_bad_attack_configuration_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown attack"):
        make_attack("fab")
    with pytest.raises(UserError, match="does not support norm linf"):
        make_attack("deepfool", norm="linf")
    with pytest.raises(UserError, match="no parameter"):
        make_attack("pgd", iterations=3)


def test_attack_types_carry_their_meaning() -> None:
    """Each attack is fixed-eps or minimal, gradient or query; the flags follow from the types."""
    fixed_eps = {
        "pgd",
        "fgsm",
        "autoattack",
        "apgd-ce",
        "apgd-dlr",
        "square-linf",
        "square-l2",
        "diva",
    }
    score, decision = {"zoo", "square-linf", "square-l2"}, {"boundary", "geoda", "hopskipjump"}
    for name in ATTACKS:
        attack = make_attack(name)
        assert isinstance(attack, FixedEpsilonAttack) != isinstance(attack, MinimizationAttack)
        assert isinstance(attack, GradientAttack) != isinstance(attack, QueryAttack)
        assert attack.bounded == isinstance(attack, FixedEpsilonAttack)
        assert attack.targeted == isinstance(attack, TargetedAttack) == (name == "jsma")
        accesses = {GradientAttack: "gradient", ScoreAttack: "score", DecisionAttack: "decision"}
        assert [a for cls, a in accesses.items() if isinstance(attack, cls)] == [attack.access]
        assert (name in fixed_eps) == isinstance(attack, FixedEpsilonAttack)
        assert attack.access == (
            "score" if name in score else "decision" if name in decision else "gradient"
        )
        with pytest.raises(AttributeError):
            attack.bounded = True
    assert make_attack("pgd", max_iter=5).config() == {
        "attack": "pgd",
        "norm": "linf",
        "params": {"max_iter": 5, "step_ratio": 0.1, "random_init": 0, "batch_size": 128},
    }


def test_criteria_decide_success() -> None:
    predictions = np.array([3, 1, 2, 0])
    untargeted = Misclassification([3, 2, 2, 1])
    targeted = TargetedMisclassification([1, 1, 0, 0])
    assert untargeted.is_adversarial(predictions).tolist() == [False, True, False, True]
    assert targeted.is_adversarial(predictions).tolist() == [False, True, False, True]
    assert untargeted[1:3].labels.tolist() == [2, 2] and len(targeted[[0, 3]]) == 2
    assert bool(targeted[2].is_adversarial(0)) and not untargeted[0].is_adversarial(3)
    assert isinstance(make_attack("pgd").criterion([1, 2]), Misclassification)
    jsma = make_attack("jsma")
    assert jsma.criterion([1, 2], [3, 4]).targets.tolist() == [3, 4]
    with pytest.raises(UserError, match="targeted: give targets"):
        jsma.criterion([1, 2])


def test_a_criterion_replaces_labels(sample, float_oracle) -> None:
    x, y = sample[0][:4], sample[1][:4]
    attack = make_attack("fgsm")
    (by_labels,) = attack(float_oracle, x, y, [EPS])
    (by_criterion,) = attack(float_oracle, x, Misclassification(y), [EPS])
    assert np.array_equal(by_labels.x_adv, by_criterion.x_adv)
    assert np.array_equal(by_labels.success, by_criterion.success)
    assert np.array_equal(
        by_labels.success, by_labels.criterion.is_adversarial(by_labels.predictions)
    )
    with pytest.raises(UserError, match="pursues Misclassification"):
        attack(float_oracle, x, TargetedMisclassification(y), [EPS])
    with pytest.raises(UserError, match="eps-bounded"):
        attack(float_oracle, x, y, [None])


def test_lattice_erases_perturbations_under_half_a_step(sample) -> None:
    backend = get_backend(MODEL, "litert-int8")
    x = sample[0]
    step = step_of(backend)
    assert step == pytest.approx(1 / 255)
    rng = np.random.default_rng(0)
    below = x + rng.choice([-1, 1], x.shape).astype(np.float32) * np.float32(0.49 * step)
    above = x + rng.choice([-1, 1], x.shape).astype(np.float32) * np.float32(0.51 * step)
    q_clean, back = to_lattice(backend, x)
    assert np.array_equal(back, x)  # clean images lie on the lattice
    assert np.array_equal(to_lattice(backend, np.clip(below, 0, 1))[0], q_clean)
    moved = to_lattice(backend, np.clip(above, 0, 1))[0].astype(int) - q_clean
    inside = (x > 0) & (x < 1)  # the box clips the others
    assert np.all(np.abs(moved[inside]) == 1)
    steps = lattice_distortion(backend, x, np.clip(above, 0, 1))
    assert max(row["steps"]["linf"] for row in steps) == 1.0
    before = distortion(x, np.clip(above, 0, 1), step)
    assert before[0]["steps"]["linf"] == pytest.approx(0.51, abs=1e-3)


def test_projection_and_finite_difference_step() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0.2, 0.8, (3, 4, 4, 3)).astype(np.float32)
    x_adv = x + rng.normal(0, 0.2, x.shape).astype(np.float32)
    for norm, order in (("linf", np.inf), ("l2", 2), ("l1", 1)):
        delta = (project(x_adv, x, norm, 0.05) - x).reshape(3, -1)
        assert np.all(np.linalg.norm(delta, ord=order, axis=1) <= 0.05 + 1e-5)
    assert np.all(np.count_nonzero(project(x_adv, x, "l0", 5) - x, axis=(1, 2, 3)) <= 5)
    assert finite_difference_step(1e-4, 1 / 255) == 1 / 255
    assert finite_difference_step(0.01, 1 / 255) == 0.01


def test_query_budget_counts_per_example_and_caps() -> None:
    budget = QueryBudget(cap=2)
    originals = np.stack([np.zeros((2, 2, 1)), np.ones((2, 2, 1))]).astype(np.float32)
    budget.start(originals)
    rows = np.concatenate([originals + 0.01, originals - 0.01])
    owners = budget.owners(rows)
    assert owners.tolist() == [0, 1, 0, 1]
    budget.admit(owners)
    assert budget.counts.tolist() == [2, 2]
    with pytest.raises(QueryBudgetExhausted):
        budget.admit(owners[:1])
    with pytest.raises(UserError):
        QueryBudget(cap=0)


# ---------------------------------------------------------------- every attack runs


def _cases() -> list[tuple[str, str]]:
    """Gradient attacks: crafted on float (and transferred to int8). Query attacks: run directly
    against float and against int8 (and transferred to the other)."""
    cases = []
    for name in sorted(PAPER_ATTACKS):
        oracles = ("float",) if make_attack(name).access == "gradient" else ("float", "int8")
        cases.extend((name, oracle) for oracle in oracles)
    return cases


@pytest.mark.parametrize("name, target", _cases())
def test_attack_runs_on_float_and_int8(name, target, sample, float_oracle, int8_oracle) -> None:
    x, y = sample[0][:N], sample[1][:N]
    attack = make_attack(name)
    oracle, other = float_oracle, int8_oracle
    if target == "int8":
        oracle, other = int8_oracle, float_oracle
    (result,) = _run(name, oracle, x, y)
    assert result.x_adv.shape == x.shape and result.success.shape == (N,)
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    if attack.bounded:
        linf = np.abs(result.x_adv - x).max()
        assert linf <= EPS + (oracle.step / 2 if oracle.integer else 1e-6)
    if oracle.integer:  # what the oracle received lies on its input lattice
        assert np.array_equal(to_lattice(oracle.backend, result.x_adv)[1], result.x_adv)
    if attack.access == "gradient":
        assert result.queries.sum() == 0
        clean_error = float(np.mean(oracle.labels(x) != y))
        assert _rate(result) > clean_error, f"{name} fooled no image of the float model"
    else:
        assert np.all(result.queries > 0) and np.all(result.queries <= BUDGET)
    transferred = other.labels(result.x_adv)
    assert transferred.shape == (N,)
    print(
        f"{name}: {oracle.name} success {_rate(result):.2f}, "
        f"median L2 {np.median(np.linalg.norm((result.x_adv - x).reshape(N, -1), axis=1)):.3f}, "
        f"{other.name} accuracy {np.mean(transferred == y):.2f}, queries {result.queries.tolist()}"
    )


# ---------------------------------------------------------------- sanity checks that can fail


def test_success_never_falls_as_eps_grows(sample, float_oracle, int8_oracle) -> None:
    """PGD, Square (direct on int8) and DeepFool (projected). FGSM is left out on purpose: its
    single step overshoots, and on this sample it fools fewer images at 16/255 than at 4/255."""
    x, y = sample[0][:N], sample[1][:N]
    grid = [0.5 / 255, 1 / 255, 2 / 255, 4 / 255, 16 / 255]
    for name, oracle in (("pgd", float_oracle), ("square-linf", int8_oracle), ("deepfool", None)):
        oracle = oracle or float_oracle
        epsilons = grid if make_attack(name).bounded else [0.05, 0.1, 0.2, 0.5, None]
        rates = [_rate(r) for r in _run(name, oracle, x, y, epsilons)]
        assert rates == sorted(rates), f"{name}: success {rates} falls as eps grows"
        assert rates[-1] > rates[0], f"{name}: success {rates} does not grow with eps"


def test_unbounded_pgd_reaches_99_percent_on_float(sample, float_oracle) -> None:
    x, y = sample
    (result,) = _run("pgd", float_oracle, x, y, [1.0], max_iter=20)
    assert _rate(result) >= 0.99


def test_iterative_pgd_beats_single_step_fgsm(sample, float_oracle) -> None:
    x, y = sample
    eps = [1 / 255]
    pgd = _rate(_run("pgd", float_oracle, x, y, eps, max_iter=20)[0])
    fgsm = _rate(_run("fgsm", float_oracle, x, y, eps)[0])
    assert pgd > fgsm, f"PGD {pgd:.2f} does not beat FGSM {fgsm:.2f}"


def test_decision_attack_distortion_falls_with_budget(sample, int8_oracle) -> None:
    """HopSkipJump directly on int8: 10x the queries gives smaller perturbations."""
    x, y = sample
    keep = np.flatnonzero(int8_oracle.labels(x) == y)[:4]  # clean-correct images
    x, y = x[keep], y[keep]
    backend = int8_oracle.backend
    distances = []
    for budget in (150, 1500):
        oracle = Oracle(backend, 10, None, budget)
        (result,) = _run(
            "hopskipjump", oracle, x, y, max_iter=30, max_eval=100, init_eval=10, init_size=20
        )
        assert np.all(result.queries <= budget)
        assert np.all(result.success), f"budget {budget}: not every image fooled"
        distances.append(np.linalg.norm((result.x_adv - x).reshape(len(x), -1), axis=1))
    small, large = (float(np.median(d)) for d in distances)
    assert large < small, f"median L2 {small:.3f} -> {large:.3f} with 10x the queries"
    print(f"hopskipjump int8: median L2 {small:.3f} at 150 queries, {large:.3f} at 1500")


def test_finite_difference_steps_against_int8_are_at_least_one_step(int8_oracle) -> None:
    zoo_params = make_attack("zoo").effective_params(int8_oracle)
    geoda_params = make_attack("geoda").effective_params(int8_oracle)
    assert zoo_params["variable_h"] == pytest.approx(1 / 255)
    assert geoda_params["sigma"] == pytest.approx(1 / 255)
