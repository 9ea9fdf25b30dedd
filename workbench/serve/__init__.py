"""Deploy a tuned model and learn from its use: `workbench serve`.

    workbench serve --models base,SFT_RUN,DPO_RUN [--port 8000] [--log] [--name served]

serves the OpenAI chat API (`workbench.serve.api`) on 127.0.0.1: every chat client, LangChain and
evaluation harness can then talk to the base and the tuned variants, which share one base in
memory. Any other host needs an API key, checked on every request. With --log, what the model is
asked and how long it takes is kept in $WORKBENCH_HOME/served/<name>.jsonl (`workbench.serve.log`);
ratings sent to /v1/feedback land in the feedback dataset <name>, which `workbench train kto` (a
thumb) or `reward` / `dpo` (a correction) read: serve, rate, train, serve again.

    server = start_server(["base", "dpo-3"], port=8000, log=True)   # a process of its own (the GUI's Deploy)
    server_status("served")   # {"running", "url", "models", "pid", ...}
    stop_server("served")
"""

from __future__ import annotations

import ipaddress

from workbench.errors import ConfigError
from workbench.serve.log import ServedLog, served_logs, served_path, served_stats
from workbench.serve.process import check_port, server_status, start_server, stop_server

API_KEY_ENV = "WORKBENCH_API_KEY"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it can be reached from elsewhere


def trusted_hosts(host: str) -> list[str]:
    """The Host headers a server bound to loopback `host` answers: its own names only (a page
    elsewhere cannot reach it through a DNS name that resolves to 127.0.0.1)."""
    bound = f"[{host}]" if ":" in host else host
    return sorted({"localhost", "127.0.0.1", "[::1]", bound.lower()})


def build_server(models, *, name: str = "served", log: bool = False, api_key: str | None = None,
                 host: str = "127.0.0.1", base: str | None = None, precision: str | None = None,
                 max_tokens: int = 512, max_prompt_tokens: int = 2048, max_waiting: int = 8):
    """(the api.Server, its FastAPI app) for `models`; raises before loading anything when the
    settings are unsafe or unusable."""
    from workbench.evaluate import Comparer
    from workbench.serve.api import Server
    if not is_loopback(host) and not api_key:
        raise ConfigError(f"serving on {host} (reachable from other machines) needs an API key",
                          hint=f"Add --api-key KEY (or set ${API_KEY_ENV}), or keep the default --host 127.0.0.1.")
    for what, value in (("--max-tokens", max_tokens), ("--max-prompt-tokens", max_prompt_tokens),
                        ("--max-waiting", max_waiting)):
        if value < 1:
            raise ConfigError(f"{what} must be at least 1, not {value}.")
    served_log = ServedLog(name, log=log)  # checks the name before the slow load
    comparer = Comparer(models, base=base, precision=precision)
    server = Server(comparer, log=served_log, api_key=api_key, max_tokens=max_tokens,
                    max_prompt_tokens=max_prompt_tokens, max_waiting=max_waiting)
    return server, server.app(trusted_hosts=trusted_hosts(host) if is_loopback(host) else None)


def serve(models, *, host: str = "127.0.0.1", port: int = 8000, on_ready=None, **settings) -> None:
    """Build the server (`build_server`) and answer on host:port until interrupted. on_ready:
    called with the Server once the port is listening."""
    import uvicorn
    check_port(host, port)  # before the slow model load
    server, app = build_server(models, host=host, **settings)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5)
    runner = uvicorn.Server(config)
    if on_ready is not None:
        startup = runner.startup

        async def started(*args, **kwargs):
            await startup(*args, **kwargs)
            if runner.started:
                on_ready(server)
        runner.startup = started
    try:
        runner.run()
    except SystemExit:  # uvicorn exits when it cannot bind after all
        pass
    if not runner.started:
        raise ConfigError(f"cannot serve on {host}:{port}: the port is in use or not available here",
                          hint="Choose another with --port N.")


__all__ = ["API_KEY_ENV", "ServedLog", "build_server", "is_loopback", "serve", "served_logs", "served_path",
           "served_stats", "server_status", "start_server", "stop_server", "trusted_hosts"]
