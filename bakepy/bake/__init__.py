"""Bake files in and out: `render` (a project → docker-bake.json) and `importer` (bake files → a project)."""
