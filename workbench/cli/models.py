"""The `models` commands: prepare the default or tiny model, list what is here."""

from __future__ import annotations


from workbench.cli.common import EXIT_OK, print_json


def cmd_models_prepare(args) -> int:
    from workbench.models import build_tiny_model, prepare_default_model
    path = build_tiny_model() if args.name == "tiny" else prepare_default_model(force=args.force)
    if args.json:
        print_json({"model": args.name, "path": str(path)})
    else:
        print(f"{args.name} is ready at {path}")
    return EXIT_OK


def cmd_models_list(args) -> int:
    from workbench.models import detect_hardware, list_models
    from workbench.models.hardware import describe_precision
    models = list_models()
    hardware = detect_hardware()
    if args.json:
        print_json({"models": [m.__dict__ for m in models],
                     "hardware": {**hardware.to_dict(), "precision": hardware.precision}})
        return EXIT_OK
    for m in models:
        state = "ready" if m.prepared else "not prepared"
        print(f"{m.name:<22} {m.kind:<8} {state:<13} {m.params or '':>8}  {m.description}")
    print(f"\nhardware: {hardware.device}, {hardware.dtype}, default method {hardware.default_method}"
          f"\n  {hardware.reason}"
          f"\n  auto = {describe_precision(hardware)}"
          "\n  Choose with --precision fp32|bf16 on train, compare, score and eval, or "
          "WORKBENCH_PRECISION for every command.")
    return EXIT_OK


def add_parsers(commands) -> None:
    models = commands.add_parser("models", help="prepare and list models")
    models_sub = models.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = models_sub.add_parser("prepare", help="convert the default model once into a cached safetensors folder")
    p.add_argument("name", nargs="?", default="smollm2-135m", choices=["smollm2-135m", "tiny"])
    p.add_argument("--force", action="store_true", help="convert again even if the cache is ready")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_prepare, loads_models=True)
    p = models_sub.add_parser("list", help="models available here, and the hardware's defaults")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_list, loads_models=True)
