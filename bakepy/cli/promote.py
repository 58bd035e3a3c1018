"""`bakepy promote`: a published index and everything referring to it, copied elsewhere, tags all or none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bakepy.cli.app import app
from bakepy.cli.options import FileOpt, JsonOpt


@app.command()
def promote(
    source: Annotated[
        str,
        typer.Argument(
            help="What to promote: a full reference by tag or digest.", show_default=False
        ),
    ],
    to: Annotated[
        list[str],
        typer.Option(
            "--to",
            metavar="REFERENCE",
            help="Where: REPO (the source's tag) or REPO:TAG (a new tag, e.g. staging 1.2.3-rc to "
            "production 1.2.3 and latest); repeatable, any registry.",
        ),
    ],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            metavar="PUBLIC_KEY",
            help="Verify the signature with this public key file or KMS URI first. Default: the project's "
            "[project.sign], if a project is here.",
        ),
    ] = None,
    unsigned: Annotated[
        bool, typer.Option("--unsigned", help="Promote without checking a signature.")
    ] = False,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy a published index to other repositories or registries — its platform manifests, blobs,
    attestations and every signature, attestation and SBOM that refers to it — and move all their tags at
    once, or none.

    The signature is verified at the source and in every destination before any tag moves (with --key, or the
    project's [project.sign]; --unsigned to skip).
    """
    from bakepy.engine.cosign import Cosign
    from bakepy.engine.runner import Runner
    from bakepy.errors import ConfigError
    from bakepy.model.targets import SignSettings
    from bakepy.publish.promote import promote as run_promote

    if not to:
        raise ConfigError(
            "promote: name where with --to REFERENCE",
            hint="bakepy promote ghcr.io/acme/app:1.2.3-rc --to ghcr.io/acme/app:1.2.3",
        )
    root = Path.cwd()
    settings: SignSettings | None = None
    if key is not None:
        settings = SignSettings(key=key, public_key=key, tlog=False)
    elif not unsigned:
        from bakepy.config import load_project

        try:
            loaded = load_project(file, root)
        except ConfigError:
            if file is not None:
                raise
            loaded = None
        settings = loaded.project.settings.sign if loaded is not None else None
        if loaded is not None:
            root = loaded.path.parent
        if settings is None:
            raise ConfigError(
                "promote: no signature policy (no --key, and no [project.sign] in a project here)",
                hint="verify with --key cosign.pub, or promote without a check: --unsigned",
            )
    log: list[str] = []
    runner = Runner(log=log.append if as_json else None)
    verifier = None
    if settings is not None:
        verifier = Cosign(settings, root, log=runner.log)
        verifier.binary()
    done = run_promote(runner, source, to, verifier=verifier)
    if as_json:
        print(
            json.dumps(
                {
                    "source": done.source,
                    "tags": list(done.tags),
                    "referrers": list(done.referrers),
                    "verified": done.verified,
                    "published": [p.to_json() for p in done.published],
                },
                indent=2,
                sort_keys=True,
            )
        )
        return
    from bakepy.cli.publish import print_summary

    print_summary(list(done.published))
    typer.echo(
        f"promoted {done.source} with {len(done.referrers)} signature(s), attestation(s) and SBOM(s)"
        + ("; signature verified at the source and in every destination" if done.verified else ""),
        err=True,
    )
