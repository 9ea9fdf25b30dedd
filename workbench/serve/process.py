"""`workbench serve` as a process of its own, started and stopped by the GUI's Deploy panel.

The server runs as `python -m workbench serve ...` in its own session (as a training job does),
so it outlives a page refresh and its model load never blocks the app. What was started is
recorded in $WORKBENCH_HOME/served/<name>.server.json (pid, its start time, url, models, log), its
output in <name>.server.log; `server_status` reads them and asks the server's /health.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from workbench import paths
from workbench.errors import ConfigError
from workbench.io import write_json_atomic

HOST = "127.0.0.1"  # the Deploy panel serves this machine only; `workbench serve --host` for more


def _files(name: str):
    from workbench.serve.log import served_dir, served_path
    served_path(name)  # checks the name
    return served_dir() / f"{name}.server.json", served_dir() / f"{name}.server.log"


def _read_state(name: str) -> dict | None:
    import json
    state_file, _ = _files(name)
    try:
        return json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def check_port(host: str, port: int) -> None:
    """Raise ConfigError unless host:port can be bound now: asked before the slow model load, by
    `serve` and by `start_server`."""
    import socket
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError as error:
            raise ConfigError(f"cannot serve on {host}:{port}: {error.strerror or error}",
                              hint="Another program uses that port: choose another (--port N).") from None


def start_server(models, *, name: str = "served", port: int = 8000, log: bool = True, base: str | None = None,
                 precision: str | None = None, max_tokens: int = 512) -> dict:
    """Start `workbench serve` for `models` (labels or a comma-separated text; "base" is `base`,
    else the base of the first run listed) on 127.0.0.1:port in a process of its own; returns
    `server_status(name)`. Raises ConfigError when a server of that name still runs or the port
    is taken."""
    from workbench.evaluate.compare import parse_models
    from workbench.train.jobs import job_env
    labels = parse_models(models)
    state_file, log_file = _files(name)
    if server_status(name)["running"]:
        raise ConfigError(f"the server '{name}' is already running", hint="Stop it first, or use another name.")
    check_port(HOST, port)
    command = [sys.executable, "-m", "workbench", "serve", "--models", ",".join(labels), "--port", str(port),
               "--name", name, "--max-tokens", str(max_tokens)] + (["--log"] if log else [])
    if base:
        command += ["--base", base]
    if precision:
        command += ["--precision", precision]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a", encoding="utf-8") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
        out.flush()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=job_env(), start_new_session=True, cwd=str(paths.repo_root()))
    from workbench.runs import owner
    write_json_atomic(state_file, {"name": name, "models": labels, "port": port, "url": f"http://{HOST}:{port}/v1",
                                   "log": log, "started": time.time(), **owner(process.pid)})
    return server_status(name)


def server_status(name: str = "served") -> dict:
    """{"name", "state": "none" | "starting" | "running" | "stopped", "running" (the process is
    alive), "url", "models", "port", "log", "pid", "output" (the last lines it printed)}."""
    from workbench.runs import owner_alive
    state = _read_state(name)
    if state is None:
        return {"name": name, "state": "none", "running": False, "url": None, "models": [], "output": ""}
    alive = owner_alive(state)
    ready = alive and _healthy(state.get("port"))
    _, log_file = _files(name)
    try:
        output = "\n".join(log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-12:])
    except OSError:
        output = ""
    return {**state, "state": "running" if ready else "starting" if alive else "stopped", "running": alive,
            "output": output}


def _healthy(port) -> bool:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def stop_server(name: str = "served", *, timeout: float = 10.0) -> dict:
    """Stop the server `name` started (SIGTERM, then SIGKILL after `timeout` s); its served log
    and the ratings stay. Returns `server_status(name)`."""
    from workbench.runs import owner_alive
    state = _read_state(name)
    if state is not None and owner_alive(state):
        if _own_group(state["pid"]):  # its session: uvicorn and anything it started
            os.killpg(state["pid"], signal.SIGTERM)
        else:
            os.kill(state["pid"], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while owner_alive(state) and time.monotonic() < deadline:
            time.sleep(0.1)
        if owner_alive(state):
            os.kill(state["pid"], signal.SIGKILL)
    return server_status(name)


def _own_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False
