"""Messages on a stream socket: a header (bytes) and raw buffers, each prefixed by its length.

    frame := u64 header_len | header | u32 n_buffers | (u64 len | bytes) * n_buffers

Both sides use this; the receiver says how many bytes it accepts (the trusted side accepts little,
a kernel that sends more is cut off), so a lying length can never make it allocate without limit.
Reading is buffered (one recv usually brings a whole small frame).
"""
from __future__ import annotations

import struct

_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")
CHUNK = 1 << 16


class FrameError(Exception):
    """The peer closed the connection, or sent something that is not a frame within the limits."""


def send(sock, header: bytes, buffers=()) -> None:
    parts = [_U64.pack(len(header)), header, _U32.pack(len(buffers))]
    for buf in buffers:
        view = memoryview(buf).cast("B")
        parts += [_U64.pack(view.nbytes), view]
    sock.sendall(b"".join(parts))


class Reader:
    """Frames from one socket, read through a buffer."""

    def __init__(self, sock, exact: bool = False):
        self.sock, self.buffer, self.exact = sock, bytearray(), exact

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            missing = n - len(self.buffer)
            chunk = self.sock.recv(missing if self.exact else max(CHUNK, min(missing, 1 << 22)))
            if not chunk:
                raise FrameError("the connection was closed")
            self.buffer += chunk
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def pending(self) -> bool:
        return bool(self.buffer)

    def recv(self, max_bytes: int = 1 << 62, max_buffers: int = 1 << 20) -> tuple[bytes, list[bytes]]:
        (size,) = _U64.unpack(self._exactly(8))
        if size > max_bytes:
            raise FrameError(f"a message header of {size} bytes (limit {max_bytes})")
        header = self._exactly(size)
        (count,) = _U32.unpack(self._exactly(4))
        if count > max_buffers:
            raise FrameError(f"{count} buffers in one message (limit {max_buffers})")
        buffers, total = [], size
        for _ in range(count):
            (n,) = _U64.unpack(self._exactly(8))
            total += n
            if total > max_bytes:
                raise FrameError(f"a message of more than {max_bytes} bytes")
            buffers.append(self._exactly(n))
        return header, buffers


def recv(sock, max_bytes: int = 1 << 62) -> tuple[bytes, list[bytes]]:
    """One frame, reading nothing past it (for a socket also read otherwise, as the zygote's control)."""
    return Reader(sock, exact=True).recv(max_bytes)
