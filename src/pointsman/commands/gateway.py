"""Gateway commands: serve, config check, config new-key, demo."""

from __future__ import annotations

from pathlib import Path

import typer

# Both commands take the file either way: `serve FILE`, `serve --config FILE`, `config check FILE`, ...
CONFIG_OPTION = typer.Option(None, "--config", "-c", help="Gateway config file (YAML).", exists=False)
CONFIG_ARGUMENT = typer.Argument(
    None, help="Gateway config file (YAML); or give --config.", show_default=False
)


def _config_path(argument: Path | None, option: Path | None) -> Path:
    if argument is not None and option is not None and argument != option:
        raise typer.BadParameter(f"two config files given: {argument} and --config {option}")
    path = argument or option
    if path is None:
        raise typer.BadParameter("give the gateway config file: FILE or --config FILE")
    return path


def _load(path: Path, *, policy: bool = False, machine: bool = False):
    """The config (and with `policy`, its built signals and rules; with `machine`, what this machine must
    have for it); config problems exit 2 with each named."""
    from rich.console import Console

    from pointsman.config.loader import ConfigError, load_config

    try:
        config = load_config(path)
        if machine:
            from pointsman.config.preflight import machine_problems

            problems = machine_problems(config)
            if problems:
                raise config._source.error(problems)
        if not policy:
            return config
        from pointsman.policy.build import build_policy

        return config, build_policy(config)
    except ConfigError as exc:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[bold red]{path}: {len(exc.problems)} problem(s)[/]")
        for p in exc.problems:
            err.print(f"  {p.render(exc.source)}", markup=False)
        raise typer.Exit(2) from None


def serve(
    file: Path = CONFIG_ARGUMENT,
    config: Path = CONFIG_OPTION,
    host: str = typer.Option(None, help="Override server.host."),
    port: int = typer.Option(None, help="Override server.port."),
    workers: int = typer.Option(
        1, min=1, max=64, help="Gateway processes on the one port (share limits through state: redis)."
    ),
) -> None:
    """Start the gateway (OpenAI-compatible API) on FILE; Ctrl-C / SIGTERM drains and stops it."""
    from pointsman.gateway.server import serve as run

    path = _config_path(file, config)
    _load(path, policy=True, machine=True)[1].close()  # config problems: exit 2 before any server starts
    run(path, host=host, port=port, workers=workers)


def check(
    file: Path = CONFIG_ARGUMENT,
    config: Path = CONFIG_OPTION,
    no_env: bool = typer.Option(
        False, "--no-env", help="Skip what this machine must have (API key variables, model files)."
    ),
) -> None:
    """Validate a gateway config without starting anything: everything `serve` would refuse (exit 0
    valid, 2 invalid), and warnings about what may not be meant."""
    from rich.console import Console

    from pointsman.config.preflight import advice
    from pointsman.policy.conditions import config_text_tests

    file = _config_path(file, config)
    cfg, policy = _load(file, policy=True, machine=not no_env)
    policy.close()
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"[green]{file}: valid[/]")
    for p in advice(cfg):
        out.print(f"  [yellow]warning:[/] {p.render(str(file))}")
    out.print(f"  backends: {', '.join(f'{b.name} ({b.kind})' for b in cfg.backends)}")
    for p in cfg.profiles:
        how = "static order"
        if p.selector.router:
            how = f"router {Path(p.selector.router).name}, {p.objective.describe()}"
        elif p.selector.train:
            how = f"router trained on first use on {p.selector.train.data}, {p.objective.describe()}"
        mark = " (default for 'auto')" if p.name == cfg.default_profile_name else ""
        out.print(f"  profile {p.name}{mark}: {', '.join(p.candidates)}; {how}", markup=False)
    read = list(dict.fromkeys([*policy.decider.signals, *(kind for kind, _ in config_text_tests(cfg.rules))]))
    if read:
        out.print(f"  signals the rules read: {', '.join(read)}")
    for r in policy.decider.rules:
        models = "every model" if r.models is None else ", ".join(sorted(r.models))
        does = (
            f"block ({r.block.code})"
            if r.block
            else (("divert -> " if r.divert else "-> ") + (r.profile or "its own route"))
        )
        out.print(
            f"  rule {r.name} (priority {r.priority}): {models}: {does}{', redact' if r.redact else ''}",
            markup=False,
        )
    out.print(
        f"  auth: {'on, ' + str(len(cfg.auth.keys)) + ' key(s)' if cfg.auth.enabled else 'off'}; "
        f"store: {cfg.store.kind}{' (with content)' if cfg.store.log_content else ''}"
    )


def new_key(tenant: str = typer.Option("default", help="Tenant the key belongs to.")) -> None:
    """Make an API key: prints the key (give it to the client) and the config entry (hash only) to paste."""
    from pointsman.gateway.auth import new_key as make

    key, digest = make()
    typer.echo(f"key (shown once): {key}")
    typer.echo("config entry (auth.keys):")
    typer.echo(f"  - id: {tenant}-{digest[:8]}\n    tenant: {tenant}\n    sha256: {digest}")


def demo(
    port: int = typer.Option(0, help="Port for the demo gateway (0: a free one)."),
    data: Path = typer.Option(
        None, help="Routing data folder (default: ../shared/data beside the checkout)."
    ),
) -> None:
    """The main job, offline: start the gateway on a built-in config, route a handful of prompts, stop."""
    from pointsman.gateway.demo import run_demo

    raise typer.Exit(run_demo(port=port, data=data))


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="Gateway configuration files.", no_args_is_help=True)
    config_app.command("check")(check)
    config_app.command("new-key")(new_key)
    app.add_typer(config_app, name="config")
    app.command("serve")(serve)
    app.command("demo")(demo)
