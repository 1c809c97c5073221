"""Where encodes run: a local pool (default) or an existing Dask distributed cluster.

Every encode is already a child process (:func:`pmp_vvc.evaluation.jobs.run_job`), so the local executor is a
pool of ``jobs`` threads, each waiting on one encoder process: at most ``jobs`` encoders run at once.
The Dask executor submits each encode as a task to ``distributed.Client(address)``; the workers must
have pmp-vvc installed and see the input and output paths (shared file system).

Both yield results as they finish, with a tqdm progress bar on stderr when ``progress`` is true.
An interrupt (Ctrl-C) cancels the encodes not yet started; running ones finish or die with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from pmp_vvc.errors import ConfigError

__all__ = ["EXECUTORS", "DaskExecutor", "Executor", "LocalExecutor", "make_executor", "run_all"]

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
EXECUTORS = ("local", "dask")


class Executor(Protocol):
    """Runs ``fn`` over ``items``; yields the results in completion order."""

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        """Yield ``fn(item)`` for every item as each finishes."""
        ...

    def close(self) -> None:
        """Release the executor's resources."""
        ...


class LocalExecutor:
    """A pool of ``jobs`` worker threads on this machine (each runs one encoder process at a time)."""

    def __init__(self, jobs: int = 1) -> None:
        if jobs < 1:
            raise ConfigError(f"--jobs must be at least 1, got {jobs}")
        self.jobs = jobs

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        """Yield ``fn(item)`` results in completion order; at most ``jobs`` run at once."""
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="pmp-encode")
        pending: set[Future[R]] = set()
        try:
            pending = {pool.submit(fn, item) for item in items}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Nothing to release (the pool lives per call)."""


class DaskExecutor:
    """Submit each item as a task to a Dask distributed scheduler at ``address``.

    ``client`` may be given instead (e.g. a ``Client(LocalCluster(...))`` in tests); it is then not
    closed by :meth:`close`.
    """

    def __init__(self, address: str | None = None, client: Any = None) -> None:
        if client is None:
            if not address:
                raise ConfigError("--executor dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
            try:
                from distributed import Client
            except ImportError:
                raise ConfigError("--executor dask needs 'dask[distributed]' installed") from None
            try:
                client = Client(address, timeout="30s")  # type: ignore[no-untyped-call]
            except (OSError, TimeoutError) as err:
                raise ConfigError(f"cannot connect to Dask scheduler {address}: {err}") from None
            self._owned = True
        else:
            self._owned = False
        self.client = client

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        """Yield task results as they complete on the cluster."""
        from distributed import as_completed

        futures = [self.client.submit(fn, item, pure=False) for item in items]
        try:
            for fut in as_completed(futures):  # type: ignore[no-untyped-call]
                yield fut.result()
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()

    def close(self) -> None:
        """Close the client if this executor opened it."""
        if self._owned:
            self.client.close()


def make_executor(kind: str, jobs: int = 1, scheduler: str | None = None) -> Executor:
    """Executor named ``kind`` (``local`` or ``dask``).

    Raises:
        ConfigError: unknown kind, bad ``jobs``, or no/unreachable scheduler for ``dask``.
    """
    if kind == "local":
        return LocalExecutor(jobs)
    if kind == "dask":
        return DaskExecutor(scheduler)
    raise ConfigError(f"unknown executor {kind!r}; use one of {', '.join(EXECUTORS)}")


def run_all(
    executor: Executor,
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    progress: bool = False,
    describe: Callable[[R], str] | None = None,
) -> list[R]:
    """Run ``fn`` over ``items`` on ``executor``; return results in completion order.

    With ``progress``, a tqdm bar counts finished items (``describe(result)`` is shown as postfix).
    """
    from tqdm import tqdm

    results: list[R] = []
    with tqdm(total=len(items), disable=not progress or not items, unit="encode", dynamic_ncols=True) as bar:
        for result in executor.map_unordered(fn, items):
            results.append(result)
            if describe is not None:
                bar.set_postfix_str(describe(result), refresh=False)
            bar.update(1)
    return results
