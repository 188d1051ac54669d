"""Messages on a stream socket: a header (bytes) and raw buffers, each prefixed by its length.

    frame := u64 header_len | header | u32 n_buffers | (u64 len | bytes) * n_buffers

Both sides use this; the receiver says how many bytes it accepts (the trusted side accepts little,
a kernel that sends more is cut off), so a lying length can never make it allocate without limit.
"""
from __future__ import annotations

import struct

_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")


class FrameError(Exception):
    """The peer closed the connection, or sent something that is not a frame within the limits."""


def send(sock, header: bytes, buffers=()) -> None:
    parts = [_U64.pack(len(header)), header, _U32.pack(len(buffers))]
    for buf in buffers:
        view = memoryview(buf).cast("B")
        parts += [_U64.pack(view.nbytes), view]
    sock.sendall(b"".join(parts))


def _exactly(sock, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 22))
        if not chunk:
            raise FrameError("the connection was closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(sock, max_bytes: int = 1 << 62, max_buffers: int = 1 << 20) -> tuple[bytes, list[bytes]]:
    (size,) = _U64.unpack(_exactly(sock, 8))
    if size > max_bytes:
        raise FrameError(f"a message header of {size} bytes (limit {max_bytes})")
    header = _exactly(sock, size)
    (count,) = _U32.unpack(_exactly(sock, 4))
    if count > max_buffers:
        raise FrameError(f"{count} buffers in one message (limit {max_buffers})")
    buffers, total = [], size
    for _ in range(count):
        (n,) = _U64.unpack(_exactly(sock, 8))
        total += n
        if total > max_bytes:
            raise FrameError(f"a message of more than {max_bytes} bytes")
        buffers.append(_exactly(sock, n))
    return header, buffers
