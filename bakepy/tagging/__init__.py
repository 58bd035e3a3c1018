"""Tags, labels and annotations from git and the CI context (what docker/metadata-action does, anywhere).

* `context`: the `BuildContext` (event, ref, sha, PR, default branch) from GitHub Actions, GitLab CI or the
  local git facts (`bakepy.engine.git` reads those), and `--context` overrides;
* `versions`: semver and PEP 440 as patterns read them; `templates`: `{{…}}` expressions, dates, `enable`
  conditions;
* `rules`: `TagRule`, `MetadataSettings` (the `metadata` table) and `evaluate`;
* `apply`: a project with each target's tags, OCI labels and annotations for one context;
* `overlay`: metadata-action's own bake file (`docker-metadata-action` target) read as an overlay.

Pure: no process, no socket.
"""
