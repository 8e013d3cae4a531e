"""Open a notebook and save it the way JupyterLab 4 does, through a real Jupyter server.

    python -m tests.tools.jupyterlab_save NOTEBOOK...     # rewrites each file as JupyterLab would

Opening, JupyterLab starts a session (and kernel), asks the kernel for ``kernel_info`` over its websocket and
writes ``kernelspec`` and ``language_info`` into the metadata; saving sends the browser's JSON (0.0 becomes 0) to
the contents API. Not emulated: the browser's model of the cells (they go back as the server sent them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid

HOST = "127.0.0.1"


class JupyterServer:
    """``jupyter server`` serving ``root`` on a loopback port with fresh config/data/runtime folders (JupyterLab's
    default settings), as a context manager; ``env``: variables for the server and its kernels (e.g. PYTHONPATH)."""

    def __init__(self, root: pathlib.Path, startup_timeout: float = 120, env: dict[str, str] | None = None):
        self.root, self.env, self.startup_timeout = pathlib.Path(root), env or {}, startup_timeout
        self.token = secrets.token_hex(16)
        with socket.socket() as sock:  # a free port
            sock.bind((HOST, 0))
            self.port = sock.getsockname()[1]
        self._home = tempfile.TemporaryDirectory(prefix="jupyter-home-")

    def __enter__(self) -> JupyterServer:
        home = pathlib.Path(self._home.name)
        env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"}
        env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
                   JUPYTER_PLATFORM_DIRS="1")
        env.update(self.env)
        self._log = open(home / "server.log", "wb")  # noqa: SIM115 (closed in __exit__)
        self.process = subprocess.Popen(  # --allow-root only matters where it runs as root (a CI container)
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--ServerApp.ip={HOST}",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}"], env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                self.request("GET", "/api/status")
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (home / "server.log").read_text(errors="replace")[-3000:]
                    self.__exit__(None, None, None)
                    raise RuntimeError("jupyter server did not start:\n" + log) from None
                time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        self._home.cleanup()

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 60):
        """Call the REST API; return the decoded JSON reply (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://{HOST}:{self.port}{path}", data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            text = reply.read()
        return json.loads(text) if text else None

    def kernel_info(self, kernel_id: str, timeout: float = 120) -> dict:
        """The kernel's ``kernel_info_reply`` content, asked over its websocket as JupyterLab does."""
        import websocket  # websocket-client, a dependency of jupyter_server

        url = f"ws://{HOST}:{self.port}/api/kernels/{kernel_id}/channels?token={self.token}"
        msg_id = uuid.uuid4().hex
        with contextlib.closing(websocket.create_connection(url, timeout=timeout)) as ws:
            ws.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "kernel_info_request", "username": "",
                           "session": uuid.uuid4().hex, "date": "", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell", "buffers": [],
            }))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                message = json.loads(ws.recv())
                if message.get("msg_type") == "kernel_info_reply" and message["parent_header"].get("msg_id") == msg_id:
                    return message["content"]
        raise TimeoutError("no kernel_info_reply")


def as_browser_json(value):
    """A JSON value as the browser's ``JSON.stringify`` writes it back: whole floats as integers (0.0 -> 0)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return type(value)((k, as_browser_json(v)) for k, v in value.items())
    if isinstance(value, list):
        return [as_browser_json(v) for v in value]
    return value


def open_and_save(server: JupyterServer, name: str) -> bool:
    """Open ``name`` (relative to the server root) as JupyterLab does, then save it as *File -> Save Notebook* does.
    True when opening made it dirty (changed its metadata)."""
    quoted = urllib.parse.quote(name)
    session = server.request("POST", "/api/sessions", {"path": name, "name": pathlib.PurePosixPath(name).name,
                                                       "type": "notebook", "kernel": {"name": "python3"}})
    try:
        kernel = session["kernel"]
        spec = server.request("GET", "/api/kernelspecs")["kernelspecs"][kernel["name"]]["spec"]
        info = server.kernel_info(kernel["id"])
        model = server.request("GET", f"/api/contents/{quoted}?type=notebook&content=1")
        # Opened, JupyterLab makes a checkpoint if there is none (.ipynb_checkpoints/ beside the notebook).
        if not server.request("GET", f"/api/contents/{quoted}/checkpoints"):
            server.request("POST", f"/api/contents/{quoted}/checkpoints")
        nb = model["content"]
        before = json.dumps(nb["metadata"], sort_keys=True)
        nb["metadata"]["kernelspec"] = {"display_name": spec["display_name"], "language": spec["language"],
                                        "name": kernel["name"]}
        nb["metadata"]["language_info"] = info["language_info"]
        server.request("PUT", f"/api/contents/{quoted}",
                       {"type": "notebook", "format": "json", "content": as_browser_json(nb)})
        return json.dumps(nb["metadata"], sort_keys=True) != before
    finally:
        server.request("DELETE", "/api/sessions/" + session["id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    paths = [p.resolve() for p in parser.parse_args(argv).notebooks]
    root = pathlib.Path(os.path.commonpath([p.parent for p in paths]))
    with JupyterServer(root) as server:
        for path in paths:
            dirty = open_and_save(server, path.relative_to(root).as_posix())
            print(f"{path}: saved; opening {'changed its metadata' if dirty else 'changed nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
