"""The pure half of the merge transaction: which index each target gets, which tags move, what is refused
before any tag moves, and how a roll back reports itself."""

from __future__ import annotations

import pytest

from bakepy.errors import RegistryError
from bakepy.publish.index import ImageIndex, ManifestEntry
from bakepy.publish.merge import RollBack, TargetMerge, check_index, decide
from bakepy.publish.sources import Collected, TargetSpec

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
AMD, ARM = "sha256:" + "a" * 64, "sha256:" + "b" * 64
SRC, OLD, OTHER = "sha256:" + "1" * 64, "sha256:" + "2" * 64, "sha256:" + "3" * 64


def index(digest: str, *platforms: tuple[str, str], attestations: int = 0) -> ImageIndex:
    entries = [ManifestEntry(d, OCI_MANIFEST, 1, p) for p, d in platforms]
    entries += [
        ManifestEntry(f"sha256:{i:064x}", OCI_MANIFEST, 1, None, attests=platforms[0][1])
        for i in range(attestations)
    ]
    return ImageIndex(digest, OCI_INDEX, tuple(entries))


SPEC = TargetSpec(
    "app",
    ("linux/amd64", "linux/arm64"),
    ("r1:5000/app", "r2:5000/app"),
    ("r1:5000/app:1.0", "r1:5000/app:latest", "r2:5000/app:1.0"),
)
BOTH = (("linux/amd64", AMD), ("linux/arm64", ARM))


def collected(*sources: ImageIndex) -> Collected:
    images = {p: d for s in sources for p, d in s.platform_digests().items()}
    return Collected(
        SPEC,
        tuple(s.digest for s in sources),
        images,
        sum(len(s.attestations) for s in sources),
        {s.digest: s for s in sources},
    )


def test_one_index_source_is_copied_as_is_to_every_tag_of_every_registry() -> None:
    merge = decide(collected(index(SRC, *BOTH, attestations=2)), {})
    assert merge.index == SRC and not merge.kept
    assert merge.sources == (f"r1:5000/app@{SRC}",)
    assert merge.moving == SPEC.tags
    assert merge.annotations == ()


def test_a_tag_that_already_holds_the_images_is_kept_and_new_tags_copy_its_index() -> None:
    current = {"r1:5000/app:1.0": index(OLD, *BOTH), "r1:5000/app:latest": None}
    merge = decide(collected(index(SRC, *BOTH)), current)
    assert merge.kept and merge.index == OLD
    assert merge.sources == (f"r1:5000/app@{OLD}",)
    assert merge.moving == ("r1:5000/app:latest", "r2:5000/app:1.0")
    assert merge.decisions[0].unchanged == ("r1:5000/app:1.0",)


def test_a_tag_holding_other_images_moves_and_its_old_digest_is_remembered() -> None:
    current = {"r2:5000/app:1.0": index(OTHER, ("linux/amd64", AMD))}
    merge = decide(collected(index(SRC, *BOTH)), current)
    assert not merge.kept
    r2 = merge.decisions[1]
    assert r2.registry == "r2:5000" and r2.move == ("r2:5000/app:1.0",)
    assert r2.before == {"r2:5000/app:1.0": OTHER}


def test_several_sources_make_a_new_index_with_the_targets_annotations() -> None:
    spec_sources = (index(SRC, ("linux/amd64", AMD)), index(OLD, ("linux/arm64", ARM)))
    merge = decide(collected(*spec_sources), {})
    assert merge.index is None
    assert merge.sources == (f"r1:5000/app@{SRC}", f"r1:5000/app@{OLD}")


def _merge() -> TargetMerge:
    return decide(collected(index(SRC, *BOTH)), {})


def test_an_index_listing_one_platform_twice_is_refused_before_anything_moves() -> None:
    twice = index(OTHER, ("linux/amd64", AMD), ("linux/amd64", ARM))
    with pytest.raises(RegistryError, match=r"one platform twice.*no tag was moved"):
        check_index(_merge(), twice)


def test_an_index_missing_a_platform_is_refused() -> None:
    with pytest.raises(RegistryError, match=r"would hold linux/amd64, not the planned"):
        check_index(_merge(), index(OTHER, ("linux/amd64", AMD)))


def test_the_planned_index_passes() -> None:
    check_index(_merge(), index(OTHER, *BOTH, attestations=2))


def test_roll_back_says_no_tag_moved_only_when_reads_showed_it() -> None:
    assert RollBack(untouched=["a"]).describe() == (
        "no tag was created or moved (read back from the registries)"
    )
    report = RollBack(
        restored=["r/a:1"], removed=["r/a:2"], failed=[("r/a:3", "why")], foreign=[("r/a:4", OTHER)]
    )
    text = report.describe()
    assert "put back 1 tag(s)" in text and "removed 1 tag(s)" in text
    assert "COULD NOT put back 1 tag(s): r/a:3 (why)" in text
    assert "moved by someone else during this run: r/a:4" in text
    assert not report.clean
