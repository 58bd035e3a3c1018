"""Platforms: `os/arch[/variant]` parsing and containerd's normalisation, as buildx applies it.

A definition keeps a platform as written (`linux/arm64/v8`, `local`, `arm64`): bake prints it so, and bakepy
renders it so. `normalize_platform` gives the one spelling used wherever platforms are compared (duplicates,
`--platform`, plan, CI split, records). `platform_warning` says what buildx accepts but looks like a typo.
"""

from __future__ import annotations

import os
import platform as _host

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
# Variants BuildKit and Go know (GOARM, GOARM64, GOAMD64, GOMIPS/GOMIPS64, GO386, GOPPC64, GORISCV64).
# Any other variant is still a platform (containerd's Parse takes any): a warning, never an error.
_MIPS_VARIANTS = ("hardfloat", "softfloat")
_VARIANTS = {
    "arm": ("v5", "v6", "v7", "v8"),
    "arm64": (*(f"v8.{i}" for i in range(1, 10)), "v9", *(f"v9.{i}" for i in range(1, 6))),
    "amd64": ("v2", "v3", "v4"),
    "386": ("sse2", "softfloat"),
    "mips": _MIPS_VARIANTS,
    "mipsle": _MIPS_VARIANTS,
    "mips64": _MIPS_VARIANTS,
    "mips64le": _MIPS_VARIANTS,
    "ppc64": ("power8", "power9", "power10"),
    "ppc64le": ("power8", "power9", "power10"),
    "riscv64": ("rva20u64", "rva22u64", "rva23u64"),
}
LOCAL = "local"
"""bake's "the platform of the machine running buildx" (`platforms = ["local"]`)."""
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


def _parse(value: str) -> tuple[str, str, str]:
    """(os, arch, variant) of a platform, normalised; ValueError unless buildx would take it."""
    if "," in value:  # buildx's CLI spelling (--platform a,b), not a list item
        listed = ", ".join(repr(p.strip()) for p in value.split(",") if p.strip())
        raise ValueError(f"{value!r} names several platforms: write one per list item: [{listed}]")
    if (
        value != value.strip()
    ):  # buildx refuses it too; trimming it silently would hide a broken variable
        raise ValueError(
            f"{value!r} has spaces around it, which buildx refuses; write {value.strip()!r}"
        )
    parts = value.split("/")
    bad = f"{value!r} is not a platform"
    if len(parts) == 1 and parts[0]:
        word = parts[0].lower()
        if word in KNOWN_OS:
            raise ValueError(f"{bad}: add the architecture, e.g. '{word}/amd64'")
        arch, variant = _normalize_arch(word, "")
        if (
            arch in KNOWN_ARCH
        ):  # containerd: a bare architecture is the client's OS (linux for builds)
            return "linux", arch, variant
    if len(parts) not in (2, 3) or not all(parts):
        hint = _did_you_mean(value.strip().lower(), COMMON_PLATFORMS)
        raise ValueError(
            bad + (hint or "; write os/arch[/variant], e.g. 'linux/amd64', or 'local'")
        )
    os_name = parts[0].lower()
    os_name = "darwin" if os_name == "macos" else os_name
    arch, variant = _normalize_arch(parts[1].lower(), parts[2].lower() if len(parts) == 3 else "")
    if os_name not in KNOWN_OS or arch not in KNOWN_ARCH:  # suggestions only on failure: they cost
        hint = _did_you_mean(value.strip().lower(), COMMON_PLATFORMS)
    if os_name not in KNOWN_OS:
        raise ValueError(
            f"{bad}: unknown operating system {parts[0]!r}"
            + (hint or _did_you_mean(os_name, KNOWN_OS))
        )
    if arch not in KNOWN_ARCH:
        raise ValueError(
            f"{bad}: unknown architecture {parts[1]!r}" + (hint or _did_you_mean(arch, KNOWN_ARCH))
        )
    return os_name, arch, variant


def check_platform(value: str) -> str:
    """`value` as written if buildx takes it as a platform (`local` included); ValueError otherwise."""
    if value != LOCAL:
        _parse(value)
    return value


def local_platform() -> str:
    """What `local` stands for: $BAKE_LOCAL_PLATFORM if set (as bake), else linux/<this machine's arch>."""
    value = os.environ.get("BAKE_LOCAL_PLATFORM")
    if value:
        return normalize_platform(value)
    arch, variant = _normalize_arch(_host.machine().lower(), "")
    return f"linux/{arch}/{variant}" if variant else f"linux/{arch}"


def normalize_platform(value: str) -> str:
    """The canonical form of a platform (`linux/arm64/v8` -> `linux/arm64`, `arm64` -> `linux/arm64`,
    `local` -> this machine's platform), for comparisons; ValueError if buildx would not take it."""
    if value == LOCAL:
        return local_platform()
    os_name, arch, variant = _parse(value)
    return f"{os_name}/{arch}/{variant}" if variant else f"{os_name}/{arch}"


def same_platform(a: str, b: str) -> bool:
    """Whether two spellings name one platform (`linux/arm64/v8` and `linux/arm64`)."""
    if a == b:
        return True
    try:
        return normalize_platform(a) == normalize_platform(b)
    except ValueError:
        return False


def platform_warning(value: str) -> str | None:
    """What is odd about a platform buildx takes: an unknown variant (did you mean ...?); None if nothing."""
    if value == LOCAL:
        return None
    try:
        _, arch, variant = _parse(value)
    except ValueError:
        return None
    known = _VARIANTS.get(arch, ())
    if not variant or variant in known:
        return None
    hint = _did_you_mean(variant, known) if known else ""
    listed = f" (known: {', '.join(known)})" if known else f" ({arch} has no known variants)"
    return (
        f"{value!r}: unknown variant {variant!r} for {arch}{listed}{hint}; "
        "buildx passes it on as written, check the build"
    )
