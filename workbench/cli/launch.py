"""The `launch` command: serve the GUI (`ui/`), the one front end the command line starts."""

from __future__ import annotations

import os

from workbench.cli.common import EXIT_OK, add_precision_option


def cmd_launch(args) -> int:
    from ui.app import launch
    from workbench.models.hardware import PRECISION_ENV
    if args.precision != "auto":  # the app's compare, score and eval, and the form's "auto"
        os.environ[PRECISION_ENV] = args.precision
    launch(args.host, args.port, share=args.share, auth=args.auth, open_browser=not args.no_browser,
           allowed_dirs=args.allow_dir)
    return EXIT_OK


def add_parsers(commands) -> None:
    p = commands.add_parser("launch", help="open the GUI (a Gradio app served on 127.0.0.1)")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to bind; anything but loopback needs --auth (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--share", action="store_true", help="also make a public gradio.live link (needs --auth)")
    p.add_argument("--auth", default=os.environ.get("WORKBENCH_AUTH"), metavar="USER:PASSWORD",
                   help="require this login; read from $WORKBENCH_AUTH when not given")
    p.add_argument("--allow-dir", action="append", default=[], metavar="FOLDER",
                   help="served beyond this machine, typed paths may also read this folder (repeat for "
                        "more); by default only uploads, sample_data/ and $WORKBENCH_HOME")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    add_precision_option(p)
    p.set_defaults(func=cmd_launch)
