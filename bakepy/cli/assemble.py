"""`bakepy assemble` (one index from per-platform images already pushed) and `bakepy status` (what tags hold)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bakepy.cli.app import app
from bakepy.cli.options import (
    BuilderOpt,
    ContextOpt,
    ContextSourceOpt,
    FileOpt,
    JsonOpt,
    MetadataBakeOpt,
    TargetsArg,
    VarOpt,
    contextual,
    load_with_vars,
    with_metadata_bake,
)


@app.command()
def assemble(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Per-platform images by tag or digest, anywhere: REF (its platform read from the image) or "
            "PLATFORM=REF (checked against the image's config)."
        ),
    ],
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            metavar="TARGET",
            help="The project target whose tags (every registry) get the index.",
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            metavar="REFERENCE",
            help="A full reference to create or move (repeatable; any registry). Instead of --target.",
        ),
    ] = None,
    annotate: Annotated[
        list[str] | None,
        typer.Option(
            "--annotate",
            metavar="PLATFORM=REF",
            help="PLATFORM=REF: label the single image REF as PLATFORM whatever its config says (docker "
            "manifest annotate). An index (a buildx push) cannot be relabelled: give its image manifest, "
            "repo@sha256:…, which the error names.",
        ),
    ] = None,
    file: FileOpt = None,
    builder: BuilderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish one multi-platform index made of images already pushed (the ECR way), to every tag in every
    registry at once.

    Every source is read and checked before anything is pushed: its platform comes from its image config, a
    contradiction is refused unless you --annotate it, and two sources for one platform are refused (bad input,
    exit 2). Then the same transaction as publish: all tags move, or none.
    """
    from bakepy.engine.runner import Runner
    from bakepy.errors import ConfigError
    from bakepy.publish.assemble import SourceSpec
    from bakepy.publish.assemble import assemble as run_assemble
    from bakepy.publish.index import repository_of
    from bakepy.publish.sources import TargetSpec

    specs = [SourceSpec.parse(s) for s in sources]
    specs += [SourceSpec.parse(s, annotate=True) for s in annotate or ()]
    if (target is None) == (not tag):
        raise ConfigError(
            "assemble: name the tags to publish with --target TARGET (from the project) or --tag REF ...",
            hint="bakepy assemble --tag registry.example.com/app:1.0 app:amd64 app:arm64",
        )
    if tag:
        from bakepy.model import parse_reference

        for ref in tag:
            try:
                parsed = parse_reference(ref)
            except ValueError as exc:
                raise ConfigError(f"--tag {ref!r}: {exc}") from None
            if parsed.tag is None or parsed.digest is not None:
                raise ConfigError(f"--tag {ref!r}: give a tag, e.g. {ref.split('@')[0]}:latest")
        full = [parse_reference(ref).normalized for ref in tag]
        repos = tuple(dict.fromkeys(repository_of(t) for t in full))
        spec = TargetSpec("assemble", (), repos, tuple(full))
    else:
        from bakepy.config import load_project
        from bakepy.publish.plan import plan_publish
        from bakepy.publish.run import specs_from_plan

        loaded = load_project(file, Path.cwd())
        plan = plan_publish(loaded.project, [target] if target else [])
        (spec,) = specs_from_plan(plan, loaded.project)
        if not spec.tags:
            raise ConfigError(f"target {spec.name} has no tags to publish")
    log: list[str] = []
    runner = Runner(builder=builder, log=log.append if as_json else None)
    published = run_assemble(runner, spec, specs)
    if as_json:
        print(json.dumps({"published": [p.to_json() for p in published]}, indent=2, sort_keys=True))
        return
    from bakepy.cli.publish import print_summary

    print_summary(published)
    for s in specs:
        if s.annotate:
            typer.echo(
                f"note: {s.ref} is published as {s.platform}, as you said (--annotate)", err=True
            )


@app.command()
def status(
    targets: TargetsArg = None,
    file: FileOpt = None,
    builder: BuilderOpt = None,
    as_json: JsonOpt = False,
    context: ContextOpt = None,
    context_source: ContextSourceOpt = "auto",
    var: VarOpt = None,
    metadata_bake: MetadataBakeOpt = None,
    require_signature: Annotated[
        bool,
        typer.Option(
            "--require-signature",
            help="Fail (exit 8) when a tag's index is unsigned, or signed by someone else than the policy "
            "says ([project.sign] or --key).",
        ),
    ] = False,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            metavar="PUBLIC_KEY",
            help="Verify signatures with this public key file or KMS URI. Default: [project.sign].",
        ),
    ] = None,
) -> None:
    """What every tag the project publishes points at now, in every registry, and whether it is complete.

    Exits 5 when a tag is missing, does not hold exactly the planned platforms (e.g. a single-platform push
    overwrote it), or holds another index in one registry than in another (drift), so it can run on a schedule.
    With tag rules ([project.metadata]) or --metadata-bake, the tags are those of the git/CI context, as `plan`
    shows them (`--context` checks another event's).
    """
    from rich.console import Console
    from rich.text import Text

    from bakepy.cli.tables import print_reference_table
    from bakepy.engine.runner import Runner
    from bakepy.errors import RegistryError
    from bakepy.publish.plan import plan_publish
    from bakepy.publish.run import specs_from_plan
    from bakepy.publish.status import STATES, tag_status

    loaded = with_metadata_bake(load_with_vars(file, var), metadata_bake, var)
    loaded = contextual(loaded, targets, context, context_source)
    specs = specs_from_plan(plan_publish(loaded.project, targets or ()), loaded.project)
    rows = tag_status(Runner(builder=builder), specs)
    signed = _signatures(rows, loaded, key, require_signature)
    if as_json:
        docs = [r.to_json() for r in rows]
        for doc in docs:
            if doc["tag"] in signed:
                doc["signature"] = signed[doc["tag"]]
        print(json.dumps(docs, indent=2, sort_keys=True))
    else:
        colors = {"complete": "green", "incomplete": "red", "drift": "red", "missing": "yellow"}
        cells: list[list[str | Text]] = []
        for r in rows:
            digest = (r.digest or "-").removeprefix("sha256:")[:12]
            platforms = ", ".join(r.platforms) + (
                f" +{r.attestations} att." if r.attestations else ""
            )
            row: list[str | Text] = [r.tag, Text(r.state, style=colors[r.state]), digest]
            if signed:
                said = signed.get(r.tag, "-")
                row.append(Text(said, style="green" if said == "signed" else "yellow"))
            cells.append([*row, platforms or "-"])
        headers = ("tag", "state", "index digest", *(("signature",) if signed else ()), "platforms")
        print_reference_table(Console(highlight=False), headers, cells, reference=0, title="tags")
    if require_signature:
        from bakepy.errors import SigningError

        unsigned = [f"{t} ({state})" for t, state in signed.items() if state != "signed"]
        if unsigned:
            raise SigningError(
                f"{len(unsigned)} tag(s) not signed as required: "
                + ", ".join(unsigned[:5])
                + (" …" if len(unsigned) > 5 else ""),
                hint="publish again with [project.sign] (it signs before any tag moves), or sign the index "
                "with cosign",
            )
    bad = sorted((r for r in rows if r.state != "complete"), key=lambda r: STATES.index(r.state))
    if bad:
        drift = any(r.state == "drift" for r in bad)
        raise RegistryError(
            f"{len(bad)} tag(s) not complete: "
            + ", ".join(r.describe() for r in bad[:5])
            + (" …" if len(bad) > 5 else ""),
            hint="bakepy publish (or merge/assemble) puts every planned platform back under them"
            + (", and one index under a tag in every registry" if drift else ""),
        )


def _signatures(rows: Any, loaded: Any, key: str | None, required: bool) -> dict[str, str]:
    """tag → signature state, where a policy or the option asks for it (else nothing: no cosign needed)."""
    from bakepy.engine.cosign import Cosign
    from bakepy.engine.runner import Runner
    from bakepy.model.targets import SignSettings
    from bakepy.publish.status import signature_states

    settings = loaded.project.settings.sign
    if key is not None:
        settings = SignSettings(key=key, public_key=key, tlog=settings.tlog if settings else False)
    if settings is None and not required:
        return {}
    verifier = None
    if settings is not None:
        verifier = Cosign(settings, loaded.path.parent, log=Runner().log)
        verifier.binary()
    return signature_states(rows, verifier)
