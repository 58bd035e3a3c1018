"""The seam to the outside world: `runner` (every docker/buildx command, through python-on-whales, logged) and
`registry` (reads of what a reference points at). Nothing else in bakepy starts a process or opens a socket."""
