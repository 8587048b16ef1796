"""The ship stage's part in a relay tree (Deployment(relay=True)): a target that lacks the
image joins its run's tree; a relay passes the image on to its children over SSH, a child
waits for its relay and confirms by its own probe; what a relay could not serve is shipped by
the controller (flow.ship) and said."""
from __future__ import annotations

import getpass
import time
from typing import TYPE_CHECKING

from otterfile.errors import OtterError
from otterfile.transfer import relay
from otterfile.transfer.probe import lacks
from otterfile.transfer.ship_image import ship_relay

if TYPE_CHECKING:
    from otterfile.artifacts.base import Artifact, ImageStore
    from otterfile.executors.base import Executor
    from otterfile.plan.graph import Task
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane
    from otterfile.transfer.relay_tree import Tree


def relayed(engine: Engine, lane: Lane, task: Task, artifact: Artifact, executor: Executor,
            present: bool | None = None) -> bool:
    """relay=True: this target's part in the run's relay tree. True: it has the image now (it
    had it, it relayed it, or its relay passed it on); False: the controller ships to it as
    without relay (alone, late, or its relay could not serve it: said)."""
    kind = lane.runtime.relay_engine(artifact)
    if kind is None or lane.host.peer() is None:
        engine.emit(task, "info", f"relay=True applies to docker images on ssh() hosts: "
                    f"{task.host} gets {artifact.image or artifact.digest[:19]} directly")
        return False
    assert task.host is not None  # a lane's task runs on its target
    started, images = time.monotonic(), engine.images_of(lane)
    tree = engine.relay_tree(lane, artifact.digest)
    if not lacks(artifact, lane.runtime, executor, present):  # the state read's answer
        tree.decline(task.host)
        images.decline(artifact.digest)
        engine.emit(task, "info", "artifact already there", bytes=0)
        return True
    role = tree.join(task.host, engine.cancel)
    if role.relay:  # a child: its relay's transfer, then its own probe confirms it
        images.decline(artifact.digest)
        return _received(engine, lane, task, artifact, executor, tree, role.relay, started)
    if not role.children:
        return False
    children = _children(engine, role.children)
    return _pass_on(engine, task, artifact, executor, images, tree, kind, children)


def _received(engine: Engine, lane: Lane, task: Task, artifact: Artifact, executor: Executor,
              tree: Tree, relay_host: str, started: float) -> bool:
    """A child's part: wait for its relay, then confirm by its own probe (False: the
    controller sends it the image, said)."""
    assert task.host is not None  # a lane's task runs on its target
    received, why = tree.served(relay_host, task.host, engine.cancel)
    if received and not lacks(artifact, lane.runtime, executor):
        engine.emit(task, "info", f"received from {relay_host} (relay) in "
                    f"{time.monotonic() - started:.1f}s, verified by digest", bytes=0)
        return True
    engine.emit(task, "info", f"{why or relay_host + ' did not leave the image'}: "
                "sent by the controller")
    return False


def _children(engine: Engine, names: tuple[str, ...]) -> dict[str, relay.Child]:
    """A relay's children as it reaches them: their peer address and port, their login."""
    children = {}
    for name in names:
        host = engine.host(name)
        peer = host.peer()
        assert peer is not None  # only targets with a peer join a tree
        address, port = peer
        children[name] = relay.Child(engine.executor(name), address, port or 0,
                                     host.login() or getpass.getuser())
    return children


def _pass_on(engine: Engine, task: Task, artifact: Artifact, executor: Executor,
             images: ImageStore, tree: Tree, kind: str,
             children: dict[str, relay.Child]) -> bool:
    """A relay's part: receive the image and pass it on to `children`; the tree learns whom
    it served, whatever happens (False: nobody relays, every target gets it directly)."""
    assert task.host is not None  # a lane's task runs on its target
    try:
        done, missing = ship_relay(artifact, executor, images, list(children.values()),
                                   engine=kind, run_id=engine.run_id,
                                   on_progress=lambda sent, total: engine.emit(
                                       task, "progress", done=sent, total=total),
                                   on_info=lambda message: engine.emit(task, "info", message))
    except relay.RelayFailed as error:
        tree.done(task.host, frozenset(n for n, c in children.items()
                                       if c not in error.missing) or None)
        raise
    except OtterError as error:  # before any byte moved (keys, folder): nobody relays
        tree.done(task.host, None)
        engine.emit(task, "info", f"cannot relay ({error}): every target gets the image "
                    "from the controller")
        return False
    except BaseException:
        tree.done(task.host, None)
        raise
    served = [n for n, c in children.items() if c not in missing]
    tree.done(task.host, frozenset(served))
    passed = f"; passed on to {', '.join(served)} (relay)" if served else \
        "; could pass it on to none of its children"
    engine.emit(task, "info", done.said + passed, bytes=done.bytes)
    return True
