"""Tensors a test shares with the kernel: each side's copy stays linked to the other's (a mirror).

A tensor (or nn.Parameter) a test sends gets a link id; the kernel keeps its copy under that id
(kernel/server.py). Before each message the test's changes to linked tensors (in place, a new .data,
.grad or requires_grad: torch's version counter and a few fields tell) go with it; after each answer
the kernel's changes come back and are made to the test's tensors. A parameter the kernel sends (a
student model's weight) is linked the same way, and kept here until the kernel lets go of it, so that
`model.weight.copy_(w)` in a test changes the student's model, as it would in one process. A test's
array, list, dict, set or bytearray argument is not linked: a call that changed it sends its new
value back with its answer (write_back).
"""
from __future__ import annotations

import pickle
import weakref

import numpy as np
import torch

from .kernel.encode import set_tensor, tensor_bytes, tensor_state
from .wire import ProtocolError


class TensorLinks:
    """Mixed into Session: `mirrors`, `mirror_ids`, `kept`, `next_mirror`, `outbox`, `out_buffers`, `decoder`."""

    def mirror(self, t) -> int:
        """The id of the link between test tensor `t` and its kernel copy (made the first time it is sent)."""
        mid = self.mirror_ids.get(id(t))
        entry = self.mirrors.get(mid)
        if entry is None or entry[0]() is not t:
            self.next_mirror += 1
            mid = self.next_mirror
            self.mirror_ids[id(t)] = mid
            self.mirrors[mid] = [weakref.ref(t), tensor_state(t)]
        return mid

    def mirror_in(self, mid: int, new, requires_grad: bool, grad, parameter: bool):
        """A linked tensor the kernel sent: the test's own object if it is alive (brought up to date), else a
        new one (a Parameter for a parameter), linked from now on."""
        entry = self.mirrors.get(mid)
        t = entry[0]() if entry is not None else None
        if t is None or (type(t) is torch.nn.Parameter) != parameter:
            floating = new.is_floating_point() or new.is_complex()
            t = torch.nn.Parameter(new, requires_grad=requires_grad and floating) if parameter else new
            if not parameter and requires_grad and floating:
                t.requires_grad_(True)
            if grad is not None and grad.shape == t.shape:
                t.grad = grad
            self.mirror_ids[id(t)] = mid
            self.mirrors[mid] = entry = [weakref.ref(t), None]
            # Kept here until the kernel lets go of its copy: a change made through a passing reference
            # (model.weight.copy_(...)) must not be lost with it.
            self.kept[mid] = t
        else:
            try:
                set_tensor(t, new, requires_grad, grad)
            except (RuntimeError, TypeError, ValueError):
                pass
        entry[1] = tensor_state(t)
        return t

    def _sync_mirrors(self) -> None:
        """Before a message: the test's changes to linked tensors, so that the kernel's copies agree."""
        for mid, entry in list(self.mirrors.items()):
            t = entry[0]()
            if t is None:
                del self.mirrors[mid]
                continue
            state = tensor_state(t)
            if state != entry[1]:
                entry[1] = state
                grad = t.grad if t.is_leaf else None
                buffers = self.out_buffers
                spec = [len(buffers), str(t.dtype).removeprefix("torch."), list(t.shape)]
                buffers.append(tensor_bytes(t))
                gspec = None
                if grad is not None:
                    gspec = [len(buffers), str(grad.dtype).removeprefix("torch."), list(grad.shape)]
                    buffers.append(tensor_bytes(grad))
                self.outbox.append(pickle.dumps(("mirror", mid, spec, bool(t.requires_grad), gspec)))

    def _apply_mirrors(self, changes, buffers) -> None:
        """After an answer: the kernel's changes to linked tensors, made to the test's."""
        if type(changes) is not list:
            raise ProtocolError("malformed tensor changes")
        for change in changes:
            if type(change) is not list or len(change) != 4 or type(change[0]) is not int:
                raise ProtocolError("a malformed tensor change")
            entry = self.mirrors.get(change[0])
            if change[1] is None:
                self.mirrors.pop(change[0], None)
                self.kept.pop(change[0], None)
                continue
            t = entry[0]() if entry is not None else None
            new = self.decoder.decode(change[1], buffers)
            grad = self.decoder.decode(change[3], buffers)
            if t is not None and type(new) is torch.Tensor and (grad is None or type(grad) is torch.Tensor):
                try:
                    set_tensor(t, new, change[2], grad)
                except (RuntimeError, TypeError, ValueError):
                    pass
                entry[1] = tensor_state(t)

    # ---- requests ----------------------------------------------------------------------------------


def write_back(target, new) -> None:
    """Make the test's `target` (an array, list, dict, set or bytearray) what the call left its kernel copy."""
    try:
        if type(target) is np.ndarray and type(new) is np.ndarray:
            if target.shape == new.shape and target.flags.writeable:
                target[...] = new
        elif type(target) is list and type(new) is list or type(target) is bytearray and type(new) is bytearray:
            target[:] = new
        elif type(target) in (dict, set) and type(new) is type(target):
            target.clear()
            target.update(new)
    except (RuntimeError, TypeError, ValueError):
        pass
