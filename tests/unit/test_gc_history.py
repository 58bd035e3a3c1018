"""The pure parts of `bakepy gc`: the pushed-digest history (torn lines of a killed run skipped) and the ECR
lifecycle policy of the same rules. What is reachable is read from real registries: tests/e2e/test_gc.py."""

from __future__ import annotations

from pathlib import Path

from bakepy.publish import gc


def test_the_history_appends_and_skips_a_torn_line(tmp_path: Path) -> None:
    gc.record_pushed(tmp_path, [("r/app", "sha256:" + "a" * 64), ("r/app", "sha256:" + "a" * 64)])
    gc.record_pushed(tmp_path, [("r/app", "sha256:" + "b" * 64)])
    with (tmp_path / gc.HISTORY).open("a") as f:
        f.write('{"repository": "r/app", "dig')  # a run killed mid-write
    found = gc.read_pushed(tmp_path)
    assert [(r, d[-1]) for r, d, _ in found] == [("r/app", "a"), ("r/app", "b")]
    assert gc.read_pushed(tmp_path / "nothing-here") == []


def test_cosign_artifact_tags_name_their_subject() -> None:
    hexd = "c" * 64
    assert gc._cosign_subject(f"sha256-{hexd}.sig") == f"sha256:{hexd}"
    assert gc._cosign_subject(f"sha256-{hexd}.att") == f"sha256:{hexd}"
    assert gc._cosign_subject("latest") is None


def test_the_ecr_policy_expires_untagged_images_after_the_grace_in_days() -> None:
    policy = gc.ecr_lifecycle_policy(3600)
    (rule,) = policy["rules"]  # type: ignore[misc]
    assert rule["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 1,
    }
    assert gc.ecr_lifecycle_policy(3 * 86400 + 1)["rules"][0]["selection"]["countNumber"] == 4  # type: ignore[index]
