"""How many threads this process's CPU libraries start: all the cores for a render alone, a share of them
for each of several parts rendered side by side on one machine (:mod:`shotcraft.executors`), so that the
parts do not fight over the cores.

The encoder's threads are not set here: x264's and x265's output depends on their thread count, so it is
fixed by the frame height (:func:`shotcraft.media.write.encoder_threads`) and a part encodes the same bytes
with any share.

``OMP_WAIT_POLICY`` is set to ``PASSIVE`` when the package is imported (``shotcraft/__init__.py``), unless
the user set it: numba's parallel kernels run on GNU OpenMP, whose idle threads otherwise spin after every
call, and shotcraft calls a kernel once a frame, so they spun through the rest of every frame. Measured on
relight (night + light, 125 frames of bikes at 640x272, 2 cores): 2.6-3.1 CPU s a part spinning, 1.9
passive, the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import sys

_share = 0


def share_cores(threads: int) -> None:
    """Let this process's thread pools (OpenCV, numba, torch, the video decoders) use ``threads`` threads.

    Called once in a part's process before it renders. numba's count holds for the calling thread (the one
    that renders); torch's is set now if torch is loaded, else through ``OMP_NUM_THREADS`` for its import.
    """
    global _share
    threads = max(1, threads)
    _share = threads
    with contextlib.suppress(ModuleNotFoundError):
        import cv2

        cv2.setNumThreads(threads)
    with contextlib.suppress(ModuleNotFoundError):
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    else:
        os.environ["OMP_NUM_THREADS"] = str(threads)


def cores_share() -> int:
    """This process's share of the cores, set by :func:`share_cores`; 0 when it has all of them (a video
    decoder then picks its own thread count)."""
    return _share
