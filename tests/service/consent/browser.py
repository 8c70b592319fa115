"""Headless Chromium driven over the DevTools protocol on a pipe, with a fake camera and
microphone fed from files - enough to press a page's button and read its DOM, nothing more.

``--remote-debugging-pipe`` makes Chromium read protocol commands from fd 3 and write replies
to fd 4, NUL-terminated JSON: no WebSocket client needed. The fake devices play a .y4m video
and a .wav file in a loop (``--use-file-for-fake-*-capture``), and ``--use-fake-ui-for-media-
stream`` grants the camera and microphone without a prompt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from service.api.loopback import LoopbackServer

INSTALL = "apt-get install chromium (scripts/setup.sh --with-services installs it)"


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"headless Chromium is not installed: {INSTALL}")


def write_y4m(frames: list[np.ndarray], fps: int, path: Path) -> None:
    """(H, W, 3) uint8 RGB frames as a 4:2:0 YUV4MPEG2 file (what Chromium's fake camera
    plays), converted by FFmpeg's scaler through PyAV."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            planes = frame.reformat(format="yuv420p").to_ndarray()  # (H * 3/2, W)
            out.write(b"FRAME\n" + planes.tobytes())


def write_wav(samples: np.ndarray, rate: int, path: Path) -> None:
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


class Browser:
    """One headless Chromium with one page, driven over the pipe."""

    def __init__(self, profile: Path, video: Path, audio: Path) -> None:
        self._commands_r, self._commands_w = os.pipe()
        self._replies_r, self._replies_w = os.pipe()
        args = [chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--no-first-run", "--mute-audio",
                "--remote-debugging-pipe", f"--user-data-dir={profile}",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
                f"--use-file-for-fake-audio-capture={audio}",
                "--autoplay-policy=no-user-gesture-required", "about:blank"]
        commands_r, replies_w = self._commands_r, self._replies_w

        def pipes_on_3_and_4() -> None:  # runs in the child, before exec
            os.dup2(commands_r, 3)
            os.dup2(replies_w, 4)

        self.log_path = profile.parent / "chromium.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, pass_fds=(3, 4),
                                            preexec_fn=pipes_on_3_and_4)
        os.close(commands_r)
        os.close(replies_w)
        self._next_id, self._buffer, self._session = 0, b"", None

    def call(self, method: str, params: dict[str, Any] | None = None, *,
             timeout: float = 30) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if self._session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        os.write(self._commands_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget",
                                  {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.navigate", {"url": url})
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === "
                      "'complete'", 30, "page load")

    def evaluate(self, expression: str, *, gesture: bool = False) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "userGesture": gesture})
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; status: "
                             f"{self.evaluate('document.body.innerText')!r}")

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (AssertionError, OSError, TimeoutError):
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        os.close(self._commands_w)
        os.close(self._replies_r)

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            if self.process.poll() is not None:
                raise AssertionError(f"Chromium exited ({self.process.returncode}):\n"
                                     f"{self.log_path.read_text(errors='replace')[-3000:]}")
            chunk = _read_some(self._replies_r, deadline)
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)


def _read_some(fd: int, deadline: float) -> bytes:
    import select

    ready, _, _ = select.select([fd], [], [], max(0.0, min(1.0, deadline - time.monotonic())))
    return os.read(fd, 1 << 16) if ready else b""


__all__ = ["Browser", "LoopbackServer", "write_wav", "write_y4m"]
