"""bakepy: publish multi-architecture container images safely.

This module owns only the package version. It must stay import-light: `bakepy --version` imports it,
and neither python_on_whales nor pydantic may be loaded on that path.
"""

__version__ = "0.1.0"
