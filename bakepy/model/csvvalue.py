"""buildx's CSV forms (tonistiigi/go-csvvalue), as it parses --cache-from, --output, --secret, --attest."""

from __future__ import annotations

# --------------------------------------------------------------------------------------------------
# CSV (tonistiigi/go-csvvalue, as buildx parses --cache-from, --output, --secret, --attest)


def parse_csv(value: str) -> list[str]:
    """Split one CSV record the way buildx does (quotes group commas, `""` is a quote); ValueError if malformed."""
    fields: list[str] = []
    i, n = 0, len(value)
    while True:
        if i >= n or value[i] != '"':
            j = value.find(",", i)
            chunk = value[i:] if j < 0 else value[i:j]
            if '"' in chunk:
                raise ValueError(
                    f"bare '\"' in unquoted field {chunk!r}; quote the whole field: '\"{chunk.replace(chr(34), chr(34) * 2)}\"'"
                )
            fields.append(chunk)
            if j < 0:
                return fields
            i = j + 1
            continue
        i += 1
        buf: list[str] = []
        while True:
            j = value.find('"', i)
            if j < 0:
                raise ValueError(f"unterminated quoted field in {value!r}; close the '\"'")
            buf.append(value[i:j])
            i = j + 1
            if i < n and value[i] == '"':
                buf.append('"')
                i += 1
                continue
            break
        fields.append("".join(buf))
        if i >= n:
            return fields
        if value[i] != ",":
            raise ValueError(f"unexpected {value[i]!r} after a quoted field in {value!r}")
        i += 1


def _csv_field(field: str) -> str:
    # buildx's csvBuilder.Write: quote a key=value pair only when it holds a comma or a quote.
    if "," in field or '"' in field:
        return '"' + field.replace('"', '""') + '"'
    return field


def _csv_pairs(value: str, what: str) -> list[tuple[str, str]]:
    pairs = []
    for f in parse_csv(value):
        key, eq, val = f.partition("=")
        if not eq:
            raise ValueError(f"invalid {what} {value!r}: field {f!r} is not key=value")
        pairs.append((key.strip().lower(), val))
    return pairs
