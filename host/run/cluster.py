"""Campaigns on Ray: cells as Ray tasks on several workers, boards as Ray actors.

``Execution(workers=N)`` starts a local Ray with N CPUs for one command; ``address`` joins a
running cluster (``ray start``, docs/distributed.md). A cell (an attack on a chunk of examples at
its eps, evaluated on every backend) is one task; its records come back to the command, which
appends them in the order of the work list, so the record file is the same bytes as a run in
one process whatever the number of workers. Each board is an actor holding its connection
(``host.board.pool.PoolMember``), so a board serves one request at a time; the pool in front of
the actors (``host.backends.pool.BoardPoolBackend``) spreads inputs across them.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from host import zoo
from host.backends import Backend
from host.board.pool import BoardSpec, PoolMember
from host.board.protocol import Hello
from host.data import sha256_file
from host.defenses import get_backend, parse_name, split_backend_name
from host.errors import ArgumentError, LinkError, TinyRobustWarning, UserError
from host.paths import REPO_ROOT
from host.records import AttackRecord
from host.run.campaign import CampaignData, CellRunner, Work, config_id

ADDRESS = re.compile(r"^(auto|(ray://)?[A-Za-z0-9.\-]+:\d{1,5})$")
ENV_PREFIX = "TINYROBUST_"  # the command's settings (data folder, model mirror) go to workers


@dataclass(frozen=True)
class Execution:
    """Where a campaign's cells run: this process (the default), N local Ray workers, or a
    Ray cluster joined at ``address``."""

    workers: int | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ArgumentError(f"workers must be at least 1, got {self.workers}", "workers")
        if self.address is not None and not ADDRESS.match(self.address):
            raise ArgumentError(
                f"ray_address must be HOST:PORT (the head's, from `ray start --head`) or auto, "
                f"got {self.address!r}",
                "ray_address",
            )

    @property
    def distributed(self) -> bool:
        return self.workers is not None or self.address is not None

    def check_reachable(self, timeout: float = 5.0) -> None:
        """A UserError, at once, when the cluster's head does not answer at ``address`` (Ray
        itself would retry for minutes)."""
        if self.address is None or self.address == "auto":
            return
        host, _, port = self.address.removeprefix("ray://").rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
        except OSError as error:
            raise UserError(
                f"no Ray cluster answers at {self.address} ({error.strerror or error}): start "
                "one with `ray start --head` (docs/distributed.md)"
            ) from None


def cluster_for(execution: Execution) -> AbstractContextManager[Cluster | None]:
    """The Ray of ``execution`` for a with-block, or None when the cells run in this process."""
    return Cluster(execution) if execution.distributed else nullcontext()


class Cluster:
    """Ray for one command: a local instance started with ``workers`` CPUs, or the cluster at
    ``address`` joined; shut down (left) at the end of the with-block."""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.notes: set[str] = set()  # warnings from workers, said once each

    def __enter__(self) -> Cluster:
        import ray  # deferred: only distributed runs pay for importing Ray

        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
        path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        try:
            ray.init(
                address=self.execution.address or "local",  # local: never one already running
                num_cpus=self.execution.workers if self.execution.address is None else None,
                include_dashboard=False,
                logging_level=logging.ERROR,
                log_to_driver=False,
                configure_logging=True,
                runtime_env={"env_vars": {**env, "PYTHONPATH": path}},
            )
        except (ConnectionError, RuntimeError, ray.exceptions.RayError) as error:
            where = self.execution.address or "a local Ray"
            raise UserError(
                f"cannot start or join {where}: {str(error).splitlines()[0]} (a cluster started "
                "with `ray start` uses token authentication: set RAY_AUTH_MODE=token, with the "
                "head's ~/.ray/auth_token on this machine; docs/distributed.md)"
            ) from None
        return self

    def describe(self) -> dict[str, Any]:
        """What run.json records of it: workers asked, the cluster joined, its nodes and CPUs,
        Ray's version."""
        import ray  # deferred, as in __enter__

        nodes = [node for node in ray.nodes() if node.get("Alive")]
        return {
            "workers": self.execution.workers,
            "ray_address": self.execution.address,
            "nodes": len(nodes),
            "cpus": int(sum(node["Resources"].get("CPU", 0) for node in nodes)),
            "ray": ray.__version__,
        }

    def __exit__(self, *exc: object) -> None:
        import ray  # deferred, as in __enter__

        ray.shutdown()

    def member(self, spec: BoardSpec, model: str, precision: str, defense: Any = None) -> Any:
        """A board of the pool as an actor on its machine (``spec.node``, else anywhere),
        behind the ``PoolMember`` interface."""
        import ray  # deferred, as in __enter__
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: PLC0415

        options: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 1}
        if spec.node is not None:
            options["scheduling_strategy"] = _on_node(spec.node)
        elif spec.url is not None:  # a URL without a node is one of this machine
            here = ray.get_runtime_context().get_node_id()
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(here, soft=False)
        actor: Any = ray.remote(BoardActor).options(**options).remote()
        hello, url = _ray_get(actor.open.remote(spec, model, precision, defense))
        return RemoteMember(actor, hello, url)

    def records(
        self, shared: CampaignData, backends: Mapping[str, Backend], work: list[Work]
    ) -> Iterator[list[AttackRecord]]:
        """Each work item's records, computed by the workers, yielded in the order of ``work``
        (items done early wait in Ray's object store)."""
        import ray  # deferred, as in __enter__

        campaign = shared.campaign
        boards = {}
        for name, backend in backends.items():
            if parse_name(name)[0] == "device":
                boards[split_backend_name(name)[0]] = _pool_of(backend)
        key = uuid.uuid4().hex
        shared_ref = ray.put(shared)
        entry = zoo.spec(campaign.model)
        files = _model_files(campaign.model, backends.values())
        task = ray.remote(_run_cell).options(num_cpus=1, max_retries=0)
        refs = [
            task.remote(
                key,
                shared_ref,
                entry,
                files,
                boards,
                campaign.attacks.index(attack),
                chunk,
                epsilons,
            )
            for attack, _, chunk, epsilons in work
        ]
        return self._collect(refs)

    def _collect(self, refs: list[Any]) -> Iterator[list[AttackRecord]]:
        """The tasks' records in order; their warnings said once each; what is left cancelled
        when the reader stops (an error, Ctrl-C)."""
        import ray  # deferred, as in __enter__

        try:
            for ref in refs:
                records, notes = _ray_get(ref)
                for note in notes:
                    if note not in self.notes:
                        self.notes.add(note)
                        warnings.warn(TinyRobustWarning(note), stacklevel=2)
                yield records
        finally:
            for ref in refs:
                ray.cancel(ref)


class BoardActor:
    """What a board actor runs: one ``PoolMember``, opened by ``open`` rather than by the
    constructor, so that a board that cannot open (a firmware build, a busy port) comes back
    as its own one-line error."""

    def open(self, spec: BoardSpec, model: str, precision: str, defense: Any) -> tuple[Hello, str]:
        """Open the board; its HELLO and URL (an emulated board's port is chosen here)."""
        self.member = PoolMember(spec, model, precision, defense)
        return self.member.hello(), self.member.url

    def invoke(self, q: np.ndarray) -> tuple[np.ndarray, list[int]]:
        return self.member.invoke(q)

    def close(self) -> None:
        self.member.close()


class RemoteMember:
    """A board actor behind the ``PoolMember`` interface; a dead actor or link is a
    LinkError, as for a board in this process."""

    def __init__(self, actor: Any, hello: Hello, url: str) -> None:
        self.actor = actor
        self._hello = hello
        self.url = url

    def hello(self) -> Hello:
        return self._hello

    def invoke(self, q: np.ndarray) -> tuple[np.ndarray, list[int]]:
        import ray  # deferred, as in Cluster.__enter__

        try:
            return ray.get(self.actor.invoke.remote(q))
        except ray.exceptions.RayError as error:
            cause = getattr(error, "cause", None)
            raise LinkError(str(cause or error).splitlines()[0]) from error

    def close(self) -> None:
        import ray  # deferred, as in Cluster.__enter__

        try:
            ray.get(self.actor.close.remote())
        except ray.exceptions.RayError:
            pass  # already gone: its QEMU died with it
        ray.kill(self.actor)


# Worker side: a Ray worker keeps the backends and cell runner of the campaign it last ran
# (a campaign's cells come in a row), so a model is loaded once per worker, not once per cell.
_RUNNERS: dict[str, CellRunner] = {}
_BACKENDS: dict[tuple[str, str], Backend] = {}


def _run_cell(
    key: str,
    shared: CampaignData,
    entry: zoo.ModelSpec,
    files: dict[str, str],
    boards: dict[str, Backend],
    attack: int,
    chunk: np.ndarray,
    epsilons: list[float | None],
) -> tuple[list[AttackRecord], list[str]]:
    """One cell in a worker: its records, and the warnings it raised (said by the command)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runner = _RUNNERS.get(key)
        if runner is None:
            _RUNNERS.clear()
            zoo.adopt(shared.campaign.model, entry)
            _check_model_files(shared.campaign.model, files)
            runner = _RUNNERS[key] = CellRunner(shared, _worker_backends(shared, boards))
        item = shared.campaign.attacks[attack]
        records = runner.records((item, config_id(shared.campaign, item), chunk, epsilons))
    notes = [str(w.message) for w in caught if issubclass(w.category, TinyRobustWarning)]
    return records, notes


def _model_files(model: str, backends: Iterable[Backend]) -> dict[str, str]:
    """The sha256 of the model files the backends (and the float model, when there is one)
    use, by precision: a worker checks its own copies against them."""
    precisions = {backend.precision for backend in backends}
    if zoo.has_file(model, "float"):
        precisions.add("float")
    return {p: sha256_file(zoo.model_file(model, p)) for p in sorted(precisions)}


def _check_model_files(model: str, files: dict[str, str]) -> None:
    """A UserError when this worker's machine holds other model files than the command's (a
    node of a cluster with another checkout): its records would not be the same."""
    for precision, digest in files.items():
        path = zoo.model_file(model, precision)
        if sha256_file(path) != digest:
            raise UserError(
                f"the Ray node at {_node_address()} has another {precision} file of {model} "
                f"({path}) than the command: give every node the same model files (make models)"
            )


def _node_address() -> str:
    import ray  # deferred, as in Cluster.__enter__

    return ray.util.get_node_ip_address()


def _worker_backends(shared: CampaignData, boards: dict[str, Backend]) -> dict[str, Backend]:
    """The campaign's backends in a worker: host ones loaded here (kept for the next campaign
    of the model), boards from the command's pool of board actors."""
    campaign = shared.campaign
    names = dict.fromkeys([*campaign.backends, campaign.oracle])
    backends = {}
    for name in names:
        if parse_name(name)[0] == "device":
            backends[name] = get_backend(campaign.model, name, boards)
            continue
        if (campaign.model, name) not in _BACKENDS:
            _BACKENDS[campaign.model, name] = get_backend(campaign.model, name)
        backends[name] = _BACKENDS[campaign.model, name]
    return backends


def _pool_of(backend: Backend) -> Backend:
    """The pool of board actors under a device backend (defenses in front unwrapped): what a
    worker gets, its defenses rebuilt there by name."""
    while not hasattr(backend, "members"):
        inner = getattr(backend, "inner", None)
        if inner is None:
            raise UserError(f"{backend.name} is not on a pool of boards: workers cannot share it")
        backend = inner
    return backend


def _ray_get(ref: Any) -> Any:
    """``ray.get``, with a task's UserError (bad input met in a worker) raised as itself."""
    import ray  # deferred, as in Cluster.__enter__

    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, UserError):
            raise cause from None
        raise


def _on_node(address: str) -> Any:
    """The scheduling strategy that puts an actor on the node at ``address`` (its IP)."""
    import ray  # deferred, as in Cluster.__enter__
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: PLC0415

    for node in ray.nodes():
        if node.get("Alive") and node.get("NodeManagerAddress") == address:
            return NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
    known = sorted({n.get("NodeManagerAddress") for n in ray.nodes() if n.get("Alive")})
    raise UserError(f"no Ray node at {address} for a board; nodes: {', '.join(known)}")
