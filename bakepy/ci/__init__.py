"""Per-platform CI: the job `matrix`, the per-platform build and the merge of its records (`split`), the CI system
a run is on (`running`), and the generated CI files (`github`, `gitlab`, sharing `workflow`, `summary` and a
deterministic `yaml` emitter)."""
