"""Publishing: plan, build by digest, collect the sources, merge every tag at once, verify, and digest records.

The stages, one module each, in the order a run meets them: `plan` (pure: targets × platforms × tags × registries
and the commands), `build`, `sources`, `merge`, `verify`; `run` is the whole `bakepy publish`; `records` are the
digest records per-platform builds hand to a later merge; `index` parses what a registry says a reference is.
"""
