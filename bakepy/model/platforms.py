"""Platforms: `os/arch[/variant]` parsing and containerd's normalisation, as buildx applies it."""

from __future__ import annotations

from bakepy.model.base import _did_you_mean

# --------------------------------------------------------------------------------------------------
# Platforms (containerd/platforms normalisation, as buildx applies it)

KNOWN_OS = frozenset(
    [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "windows",
        "zos",
    ]
)
KNOWN_ARCH = frozenset(
    [
        "386",
        "amd64",
        "amd64p32",
        "arm",
        "armbe",
        "arm64",
        "arm64be",
        "ppc64",
        "ppc64le",
        "loong64",
        "mips",
        "mipsle",
        "mips64",
        "mips64le",
        "mips64p32",
        "mips64p32le",
        "ppc",
        "riscv",
        "riscv64",
        "s390",
        "s390x",
        "sparc",
        "sparc64",
        "wasm",
    ]
)
_VARIANTS = {
    "arm": ("v5", "v6", "v7", "v8"),
    "arm64": (*(f"v8.{i}" for i in range(1, 10)), "v9", *(f"v9.{i}" for i in range(1, 6))),
    "amd64": ("v2", "v3", "v4"),
}
COMMON_PLATFORMS = (
    "linux/amd64",
    "linux/amd64/v2",
    "linux/amd64/v3",
    "linux/amd64/v4",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/arm/v5",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
    "linux/mips64le",
    "linux/mips64",
    "linux/loong64",
    "windows/amd64",
    "windows/arm64",
    "darwin/amd64",
    "darwin/arm64",
    "freebsd/amd64",
    "freebsd/arm64",
)


def _normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    # containerd/platforms database.go normalizeArch, then Normalize()'s arm default (v7).
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            return "arm", "v7"
        if variant in ("5", "6", "8"):
            return "arm", "v" + variant
    return arch, variant


def normalize_platform(value: str) -> str:
    """Return the canonical form of a platform (`linux/arm64/v8` -> `linux/arm64`); ValueError if invalid."""
    if "," in value:  # buildx's CLI spelling (--platform a,b), not a list item
        listed = ", ".join(repr(p.strip()) for p in value.split(",") if p.strip())
        raise ValueError(f"{value!r} names several platforms: write one per list item: [{listed}]")
    parts = value.strip().split("/")
    bad = f"{value!r} is not a platform"
    hint = _did_you_mean(value.strip().lower(), COMMON_PLATFORMS)
    if len(parts) == 1 and parts[0]:
        word = parts[0].lower()
        if word in KNOWN_OS:
            raise ValueError(f"{bad}: add the architecture, e.g. '{word}/amd64'")
        arch, variant = _normalize_arch(word, "")
        if arch in KNOWN_ARCH:
            raise ValueError(
                f"{bad}; did you mean 'linux/{arch}{'/' + variant if variant else ''}'?"
            )
    if len(parts) not in (2, 3) or not all(parts):
        hint = _did_you_mean(value.strip().lower(), COMMON_PLATFORMS, 0.85)
        raise ValueError(bad + (hint or "; write os/arch[/variant], e.g. 'linux/amd64'"))
    os_name = parts[0].lower()
    os_name = "darwin" if os_name == "macos" else os_name
    arch, variant = _normalize_arch(parts[1].lower(), parts[2].lower() if len(parts) == 3 else "")
    if os_name not in KNOWN_OS:
        raise ValueError(
            f"{bad}: unknown operating system {parts[0]!r}"
            + (hint or _did_you_mean(os_name, KNOWN_OS))
        )
    if arch not in KNOWN_ARCH:
        raise ValueError(
            f"{bad}: unknown architecture {parts[1]!r}" + (hint or _did_you_mean(arch, KNOWN_ARCH))
        )
    if variant and variant not in _VARIANTS.get(arch, ()):
        known = ", ".join(_VARIANTS.get(arch, ())) or "none"
        raise ValueError(f"{bad}: unknown variant {variant!r} for {arch} (known: {known})" + hint)
    return f"{os_name}/{arch}/{variant}" if variant else f"{os_name}/{arch}"
