# A typical bake file, the kind `bakepy import` turns into bakepy.toml: variables, a function, a private
# base target, a matrix, groups, and docker/metadata-action's empty target.
#
#   docker buildx bake --print          what bake makes of it
#   bakepy import                       writes ./bakepy.toml (see the one next to this file)

variable "REGISTRY" {
  default     = "ghcr.io/acme"
  description = "where the images go"
}

variable "TAG" {
  default = "dev"
}

function "image" {
  params = [name]
  result = "${REGISTRY}/${name}:${TAG}"
}

group "default" {
  targets = ["api", "worker"]
}

# Filled by docker/metadata-action in CI (-f docker-metadata-action-bake.json); empty here.
target "docker-metadata-action" {}

target "_common" {
  inherits  = ["docker-metadata-action"]
  platforms = ["linux/amd64", "linux/arm64"]
  args = {
    PYTHON_VERSION = "3.12"
  }
  labels = {
    "org.opencontainers.image.source" = "https://github.com/acme/app"
  }
}

target "api" {
  inherits = ["_common"]
  target   = "api"
  tags     = [image("api"), "${REGISTRY}/api:latest"]
}

target "worker" {
  inherits = ["_common"]
  name     = "worker-py${replace(py, ".", "")}"
  matrix = {
    py = ["3.11", "3.12"]
  }
  target = "worker"
  args = {
    PYTHON_VERSION = py
  }
  tags = [image("worker-py${py}")]
}
