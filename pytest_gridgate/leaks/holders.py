"""Which Python objects hold given file descriptors (files, sockets, event loops) or child
processes (``subprocess.Popen``).

The fd check asks this for the descriptors a test left open, to describe them (a socket's
address, a file's name) and to tell whether garbage may hold them (a full collection
would then close them); the process check asks it for the young owners of new children,
for the same reason. The answer takes a walk over the garbage collector's objects;
young generations first, since what a test made and still holds is usually young.
"""

from __future__ import annotations

import gc
import io
import socket
import subprocess
import sys
import types
import weakref
from itertools import compress
from typing import Any

from pytest_gridgate._compat import event_loop_fds, finalized_fds

#: The collector's generations: the young ones, made since the last collections of theirs.
YOUNG = (0, 1)
ALL = (0, 1, 2)


def _with_subclasses(roots: list[type]) -> set[type]:
    """``roots`` and every subclass of theirs (an exact-type test is then all a walk of
    the heap needs per object)."""
    found: set[type] = set()
    while roots:
        cls = roots.pop()
        if cls not in found:
            found.add(cls)
            roots.extend(cls.__subclasses__())
    return found


def _holder_types() -> set[type]:
    """Every class whose objects may hold a descriptor: files, sockets, event loops, with
    their subclasses."""
    roots: list[type] = [io.FileIO, socket.socket]
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        roots.append(asyncio.BaseEventLoop)
    return _with_subclasses(roots)


def _loop_type() -> Any:
    asyncio = sys.modules.get("asyncio")
    return asyncio.BaseEventLoop if asyncio is not None else None


def _fds_of(obj: Any, loop_type: Any) -> list[int]:
    """The descriptors ``obj`` (of a holder type) holds: an open loop's own, an open
    file's or a socket's number. May raise for an object in a half-built or odd state."""
    if loop_type is not None and isinstance(obj, loop_type):
        return [] if obj.is_closed() else event_loop_fds(obj)
    if isinstance(obj, io.FileIO) and obj.closed:
        return []
    return [obj.fileno()]


def holders_of(fds: set[int], generations: tuple[int, ...] = ALL) -> dict[int, Any]:
    """Python objects (files, sockets, event loops) still holding any of ``fds``, among
    the objects of the collector's ``generations``, youngest first: what a test made and
    still holds is usually young, and the walk stops once every descriptor has its holder.

    The objects are filtered by type in C (``compress``): a big suite's heap has hundreds
    of thousands of objects and a handful of files and sockets.
    """
    holders: dict[int, Any] = {}
    if generations == ALL:
        # Numbers only multiprocessing holds, closed when their owner (a Process's Popen)
        # is collected: the owner is their holder, and it may be garbage. Read from its
        # registry first, which is cheap: a walk of the heap would never find them
        # (pexpect's multiprocessing servers: 3 ms a test on its heap).
        for fd, owner in finalized_fds().items():
            if fd in fds:
                holders[fd] = owner
        if len(holders) == len(fds):
            return holders
    loop_type = _loop_type()
    wanted = _holder_types().__contains__
    for generation in generations:
        objects = gc.get_objects(generation)
        for obj in compress(objects, map(wanted, map(type, objects))):
            try:
                held = _fds_of(obj, loop_type)
            except Exception:  # an object in a half-built or odd state: not ours to judge
                continue
            is_loop = loop_type is not None and isinstance(obj, loop_type)
            for fd in held:
                if fd in fds:
                    if is_loop:
                        holders[fd] = obj  # the loop wins over its own sockets
                    else:
                        holders.setdefault(fd, obj)
        del objects
        if len(holders) == len(fds):
            break
    return holders


#: What a walk from an object does not follow: classes, modules and functions lead to the
#: whole program, not to what the object holds.
_OPAQUE = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.FrameType,
    types.CodeType,
)


def fds_held_from(roots: list[Any], limit: int = 100_000) -> set[int]:
    """The descriptors that objects reachable from ``roots`` hold (files, sockets, event
    loops, multiprocessing's numbers), following containers and instances' attributes but
    not classes, modules or functions; at most ``limit`` objects are visited."""
    seen = {id(root): root for root in roots}
    stack = list(roots)
    while stack and len(seen) < limit:
        for ref in gc.get_referents(stack.pop()):
            if id(ref) not in seen and not isinstance(ref, _OPAQUE):
                seen[id(ref)] = ref
                stack.append(ref)
    wanted = _holder_types()
    loop_type = _loop_type()
    held: set[int] = set()
    for obj in seen.values():
        if type(obj) in wanted:
            try:
                held.update(_fds_of(obj, loop_type))
            except Exception:  # an object in a half-built or odd state: it holds nothing
                continue
    held.update(fd for fd, owner in finalized_fds().items() if id(owner) in seen)
    return held


def popen_holders(pids: set[int]) -> dict[int, Any]:
    """The ``subprocess.Popen`` objects (subclasses too) of child ``pids``, youngest
    generation first (a new child's usually is young); filtered by type in C."""
    wanted = _with_subclasses([subprocess.Popen]).__contains__
    holders: dict[int, Any] = {}
    for generation in ALL:
        objects = gc.get_objects(generation)
        for obj in compress(objects, map(wanted, map(type, objects))):
            pid = getattr(obj, "pid", None)
            # An ended child's Popen keeps its pid, which a new child may have reused.
            if pid in pids and getattr(obj, "returncode", 0) is None:
                holders.setdefault(pid, obj)
        del objects
        if len(holders) == len(pids):
            break
    return holders


def weakly(holders: dict[int, Any]) -> dict[int, Any]:
    """``holders`` as weak references: kept strongly, garbage would never be collected."""
    refs: dict[int, Any] = {}
    for fd, holder in holders.items():
        try:
            refs[fd] = weakref.ref(holder)
        except TypeError:  # pragma: no cover - every holder type takes weak references
            continue
    return refs
