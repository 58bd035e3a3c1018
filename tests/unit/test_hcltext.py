"""bakepy.bake.importer.hcltext: the keys of each target's matrix, read from the bake files' text."""

from __future__ import annotations

import json

from bakepy.bake.importer.hcltext import matrix_keys


def test_one_key_of_objects_and_several_keys() -> None:
    text = """\
target "one" {
  matrix = {
    item = [
      { os = "jammy", v = "1" },
      { os = "noble", v = "1" },
    ]
  }
  name = "one-${item.os}-${item.v}"
}

target "two" {
  name = "two-${os}-${v}"
  matrix = {
    os = ["jammy", "noble"]
    "v" = ["1", "2"],
  }
}

target "plain" {
  args = { matrix = "not one" }
}
"""
    assert matrix_keys({"docker-bake.hcl": text}) == {"one": 1, "two": 2}


def test_strings_heredocs_and_comments_hide_nothing_and_add_nothing() -> None:
    text = """\
# target "commented" { matrix = { a = [1], b = [2] } }
target "t" {
  dockerfile-inline = <<EOT
FROM busybox
RUN echo "matrix = { x = 1, y = 2 }" }
EOT
  labels = { note = "braces } and ${join(",", ["{", "}"])} in a string" }
  /* matrix = { a = 1, b = 2 } */
  matrix = {
    // a comment line: key = value
    build = BUILDS  # a variable: still one key
    flavour = flavours == "" ? ["slim"] : split(",", flavours)
  }
}
"""
    assert matrix_keys({"docker-bake.hcl": text}) == {"t": 2}


def test_a_matrix_that_is_not_an_object_is_not_counted() -> None:
    text = 'target "t" {\n  matrix = local.builds\n  name = "t-${item}"\n}\n'
    assert matrix_keys({"docker-bake.hcl": text}) == {}


def test_json_files_and_the_last_file_wins() -> None:
    first = json.dumps({"target": {"t": {"matrix": {"a": ["1"], "b": ["2"]}}}})
    override = 'target "t" {\n  matrix = { a = ["1"] }\n}\n'
    assert matrix_keys({"docker-bake.json": first}) == {"t": 2}
    assert matrix_keys({"docker-bake.json": first, "override.hcl": override}) == {"t": 1}
    assert matrix_keys({"broken.json": "{"}) == {}
