"""Sweep settings as Ray tasks: the same function, the same options and seeds as the
local process pool, on a local Ray instance or a cluster.

Each task runs the setting in a fresh folder of the machine it lands on and sends back
its result and that folder (a tar archive); the driver unpacks the folder into
``OUT/settings/<key>``, so a cluster needs no shared file system and the output folder
looks exactly as the local pool leaves it.  Ray is the optional ``ray`` install extra;
every worker needs dynalign installed (the same version as the driver).
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path

__all__ = ["run_on_ray", "connect"]


def connect(address: str, *, workers: int):
    """``ray.init`` for ``address``: ``"auto"`` joins a running cluster (``ray start``,
    or ``RAY_ADDRESS``) if there is one and otherwise starts a local instance of
    ``workers`` CPUs; anything else is a cluster address (``ray://host:10001`` or
    ``host:6379``).  Returns whether this call started Ray (and must shut it down)."""
    try:
        import ray  # the optional 'ray' extra; imported here so the sweep loads without it
    except ImportError:
        raise RuntimeError("--ray needs Ray: pip install 'dynalign[ray]' "
                           "(make setup installs it)") from None
    if ray.is_initialized():
        return False
    kw = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    if address == "auto":
        try:
            ray.init(address="auto", **kw)
        except ConnectionError:
            ray.init(num_cpus=workers, **kw)
    else:
        try:
            ray.init(address=address, **kw)
        except ConnectionError as e:
            raise RuntimeError(f"cannot reach the Ray cluster at {address}: {e}") from None
    return True


def _pack(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        if folder.is_dir():
            tar.add(folder, arcname=".")
    return buf.getvalue()


def _unpack(data: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")


def _task(fn, setting, opts):
    with tempfile.TemporaryDirectory(prefix="dynalign-ray-") as tmp:
        result = fn(setting, opts, tmp)
        return result, _pack(Path(tmp) / "settings" / setting.key)


def run_on_ray(fn, settings, opts, out_root, *, address: str, workers: int):
    """Yield ``(setting, result)`` as each of ``fn(setting, opts, folder)`` finishes as a
    Ray task (one CPU each), after unpacking its folder under ``out_root``."""
    settings = list(settings)
    if not settings:
        return
    started = connect(address, workers=workers)
    import ray

    try:
        remote = ray.remote(num_cpus=1)(_task)
        pending = {remote.remote(fn, s, opts): s for s in settings}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                s = pending.pop(ref)
                result, folder = ray.get(ref)
                _unpack(folder, Path(out_root) / "settings" / s.key)
                yield s, result
    finally:
        if started:
            ray.shutdown()
