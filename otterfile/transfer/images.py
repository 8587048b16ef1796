"""The controller's container engine through the Docker SDK for Python: image id, size,
layers, and `docker save` as a stream. Lower-level errors become OtterError here."""
from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, Iterator, cast

from otterfile.errors import OtterError
from otterfile.executors.base import Readable
from otterfile.artifacts.archive import image_id_of

CHUNK = 1024 * 1024


class Inspected:
    """Image id, size and layers read from an engine's `image inspect` (`_inspect`: the
    inspected dict, or None when there is no such image): the controller's and a build
    host's store alike."""

    def _inspect(self, ref: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def image_id(self, ref: str) -> str | None:
        found = self._inspect(ref)
        return found["Id"] if found else None

    def size(self, image_id: str) -> int | None:
        found = self._inspect(image_id)
        return int(found["Size"]) if found and found.get("Size") else None

    def layers(self, image_id: str) -> list[str]:
        found = self._inspect(image_id)
        return list((found or {}).get("RootFS", {}).get("Layers", []))


class ControllerStore:
    """What an image store on the controller answers alike (the Docker SDK's, a plan's,
    the tests' fakes): files kept in the local cache, nothing served, no history."""

    def decline(self, image_id: str) -> None:
        """Nothing to do: each `save` is its own stream (fanout.SharedImages shares one)."""

    def open_file(self, path: Path) -> tuple[Readable, int | None]:
        return open_file(path)

    def archive_image_id(self, path: Path) -> str | None:
        return image_id_of(path)

    def history(self, image_id: str) -> list[dict[str, Any]] | None:
        return None

    def serve(self, path: Path) -> str | None:
        return None  # the controller streams what it keeps through ship

    def close(self) -> None:
        """Nothing to stop."""


class DockerImages(ControllerStore, Inspected):
    """The engine that DOCKER_HOST (or the default socket) names; connected on first use."""

    def __init__(self) -> None:
        self._client: Any = None

    def _api(self) -> Any:
        if self._client is None:
            import docker  # the SDK loads only when an image is needed
            try:
                self._client = _client(docker)
            except docker.errors.DockerException as error:
                raise OtterError(f"cannot reach the controller's Docker engine: {error}") \
                    from None
        return self._client.api

    def _inspect(self, ref: str) -> dict[str, Any] | None:
        import docker
        try:
            return cast("dict[str, Any]", self._api().inspect_image(ref))
        except docker.errors.NotFound:
            return None
        except docker.errors.DockerException as error:
            raise OtterError(f"docker image inspect {ref}: {error}") from None

    def save(self, image_id: str) -> Readable:
        import docker
        if self._inspect(image_id) is None:
            raise OtterError(f"docker save {image_id} failed on the controller: no such image")
        try:
            chunks = self._api().get_image(image_id, chunk_size=CHUNK)
        except docker.errors.DockerException as error:
            raise OtterError(f"docker save {image_id} failed on the controller: {error}") \
                from None
        return ChunkReader(chunks, f"docker save {image_id[:19]} on the controller")

    def history(self, image_id: str) -> list[dict[str, Any]] | None:
        return cast("list[dict[str, Any]]", self._api().history(image_id))


def _client(docker: Any) -> Any:
    """The engine the `docker` CLI would use: DOCKER_HOST, else the current `docker
    context` (colima, rootless, Desktop), else the default socket; builds run through the
    CLI, so the image they make is looked up in the same engine."""
    import os
    if not os.environ.get("DOCKER_HOST"):
        from docker.context import ContextAPI
        context = ContextAPI.get_current_context()
        if context is not None and context.name != "default" and context.Host:
            return docker.DockerClient(base_url=context.Host, tls=context.TLSConfig)
    return docker.from_env()


def open_file(path: Path) -> tuple[BinaryIO, int | None]:
    """A kept file artifact as a stream, and its size."""
    try:
        return open(path, "rb"), path.stat().st_size
    except OSError as error:
        raise OtterError(f"cannot read {path} on the controller: {error.strerror}") from None


class ChunkReader:
    """A file-like `read(size)` over an iterator of byte chunks (backpressure kept). An error
    of the iterator (a `docker save` cut off) ends the stream and is raised by `close`, so
    the ship names it rather than the truncated load it causes on the target."""

    def __init__(self, chunks: Iterator[bytes], what: str = "the stream"):
        self._chunks, self._buffer, self._what = iter(chunks), b"", what
        self.failure: OtterError | None = None

    def read(self, size: int = -1) -> bytes:
        while self.failure is None and (size < 0 or len(self._buffer) < size):
            try:
                chunk = next(self._chunks, None)
            except Exception as error:  # the SDK's and urllib3's own: told at close
                self.failure = OtterError(f"{self._what} broke off: {error}")
                break
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close:
            close()
        failure, self.failure = self.failure, None
        if failure is not None:
            raise failure


class PlannedImages(ControllerStore):
    """An image store for plans and dry runs: every image exists, with a placeholder id."""

    DIGEST = "sha256:<digest>"

    def image_id(self, ref: str) -> str | None:
        return self.DIGEST

    def size(self, image_id: str) -> int | None:
        return None

    def layers(self, image_id: str) -> list[str]:
        return []

    def save(self, image_id: str) -> Readable:
        import io
        return io.BytesIO(b"")

    def open_file(self, path: Path) -> tuple[Readable, int | None]:
        import io
        return io.BytesIO(b""), None
