"""The Python form of an import as a translation of the HCL bake file itself (issue 24, item 2): every variable
declared with its default and read live, the top-level attributes and user functions as Python, and the targets
computed the way bake computes them (a matrix as loops in bake's order, `name`, `inherits` and groups from
code, a null attribute left unset, the clock read at render). Nothing is frozen. A variable that only ever
lands as a part of a text (`hclproof.text_only`) is its template, `${NAME}`, that bakepy fills in and checks at
render (issue 24 item 15: a value bake prints but could not build is refused by plan, naming the variable).

It is used only when it is proven (`hclproof`): the written module is run in-process on the values in force at
import and rendered, and what it renders must equal what the import renders (bake's print), and again with each
variable the import follows set to a probe value. Anything it cannot translate, any difference and any
exception gives None, and `python.py` writes today's form (the printed import, patched by `hcllive`) instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from bakepy.bake.importer import hclexpr as h
from bakepy.bake.importer.hclproof import clean_path, proven, text_only, written_project
from bakepy.bake.importer.hclpython import (
    _IF,
    _NOT,
    _OR,
    CLOCK_FUNCTIONS,
    FUNCTIONS,
    CallCode,
    Code,
    DictCode,
    IfElse,
    KwCall,
    ListCode,
    Prefix,
    Translator,
    Untranslatable,
    call_lines,
    dict_lines,
    paren,
    py_key,
    python_name,
)
from bakepy.bake.importer.imported import ImportedProject

#: Target attributes by how bake converts them: text, bool, a list (empty items dropped), a map of text.
_TEXT = frozenset(
    {
        "description",
        "context",
        "dockerfile",
        "dockerfile-inline",
        "target",
        "network",
        "call",
        "shm-size",
    }
)
_BOOL = frozenset({"pull", "no-cache"})
_LIST = frozenset(
    {
        "tags",
        "platforms",
        "annotations",
        "no-cache-filter",
        "entitlements",
        "cache-from",
        "cache-to",
        "output",
        "secret",
        "ssh",
        "attest",
        "ulimits",
        "policy",
    }
)
_MAP = frozenset({"args", "labels", "contexts", "extra-hosts"})
_ASIS = frozenset({"resources"})
_KNOWN = _TEXT | _BOOL | _LIST | _MAP | _ASIS
#: Lists the model reads into classes (`Output`, `CacheEntry`, …): python.py's _ENTRY_CLASS.
_STRUCTURED = frozenset(
    {"cache-from", "cache-to", "output", "secret", "ssh", "attest", "ulimits", "policy"}
)
#: Stdlib functions whose result is never null (the rest, user functions and lookups may be).
_NOT_NULL_KINDS = frozenset({"str", "bool", "number", "list", "set", "map"})


class _Refused(Exception):
    """Something the whole translation does not take on (the caller falls back to the patched form)."""


def whole_form(
    project: ImportedProject,
    texts: Mapping[str, str],
    *,
    module: str = "bakepy",
    why: list[str] | None = None,
) -> tuple[str, ImportedProject] | None:
    """The module text and the project it stands for (its notes: what the user is warned of), or None when
    the bake files `texts` (name → text, -f order) cannot be translated whole, or the translation is not
    proven equal to the import (`why`, when given, gets the reason)."""
    reasons: list[str] = [] if why is None else why
    if not texts or any(name.endswith((".json", ".yml", ".yaml")) or name == "-" for name in texts):
        reasons.append("not an HCL file")
        return None
    if any(t.unsupported for t in project.targets):
        reasons.append("the import could not carry over an attribute")
        return None
    try:
        files = h.parse_files(texts)
    except h.HclUnreadable:
        reasons.append("python-hcl2 cannot read it")
        return None
    try:
        writer = _Writer(files, project, module)
        body = writer.lines()
    except (Untranslatable, _Refused, RecursionError) as exc:
        reasons.append(f"cannot translate {exc}")
        return None
    written = written_project(project, files, writer.defaults, writer.constants)
    from bakepy.bake.importer.text import header_comment

    text = "\n".join([*header_comment(written, "bakepy import --python"), *body]) + "\n"
    probed = frozenset(n for n, kind in writer.kinds.items() if kind == "str")
    if not proven(text, project, files, writer.clock, reasons, writer.unordered, probed):
        return None
    return text, written


# -- writing -----------------------------------------------------------------------------------------------


def _key_name(key: h.Expr) -> str:
    """A matrix key as written: `v`, `"v"`."""
    if isinstance(key, h.Name):
        return key.name
    if isinstance(key, h.Literal) and isinstance(key.value, str):
        return key.value
    if isinstance(key, h.Template) and len(key.parts) == 1 and isinstance(key.parts[0], str):
        return key.parts[0]
    raise _Refused("a computed matrix key")


class _Writer:
    def __init__(self, files: h.HclFiles, project: ImportedProject, module: str) -> None:
        self.files = files
        self.project = project
        self.module = module
        self.clock = False
        self.defaults: dict[str, str | None] = {}  # variable → Variable(default=…) text
        self.computed: dict[str, h.Expr] = {}  # variable → its default, computed in Python
        taken = {"value", "targets", "groups", "names", "Any"}
        names: dict[str, tuple[str, str]] = {}
        self.kinds: dict[str, str] = {}
        #: a variable whose default is a list or a map (no `type`): bake takes no value of it from the
        #: environment (`unsupported type object`), so it is the constant its default says
        self.constants: dict[str, h.Expr] = {}
        for name, var in files.variables.items():
            kind = h.env_kind(var)
            if kind is None:
                if var.type is not None or not isinstance(var.default, h.Tuple | h.Object | h.For):
                    raise _Refused(f"variable {name} has a type bakepy does not read")
                self.constants[name] = var.default
                kind = "map" if isinstance(var.default, h.Object) else "list"
            self.kinds[name] = kind
            python = python_name(name, taken)
            taken.add(python)
            names[name] = (python, kind)
        for name, var in files.variables.items():
            if name in self.constants:
                continue
            plain = h.plain_default(var.default)
            if plain is None or any(n not in files.variables for n in plain[1]):
                self.computed[name] = var.default if var.default is not None else h.Literal(None)
            else:
                self.defaults[name] = plain[0]
        changed = True
        while (
            changed
        ):  # a default of `${B}` where B is computed is computed too (variable_values cannot)
            changed = False
            for name in list(self.defaults):
                plain = h.plain_default(files.variables[name].default)
                if plain is not None and any(n in self.computed for n in plain[1]):
                    self.computed[name] = files.variables[name].default or h.Literal(None)
                    del self.defaults[name]
                    changed = True
        # issue 24 item 15: a variable that only ever lands as a part of a text stays `${NAME}` in the targets,
        # for bakepy to interpolate at render and check there (a value bake prints but cannot build is refused
        # by plan and publish naming the variable, not by the import)
        self.as_text = text_only(files, _TEXT - {"context"}, _LIST - _STRUCTURED, _MAP) & {
            n for n, d in self.defaults.items() if d is not None and self.kinds[n] == "str"
        }
        for name in files.attributes:
            python = python_name(name, taken)
            taken.add(python)
            names[name] = (python, "any")
        self.translator = Translator(files, names, {**FUNCTIONS, **CLOCK_FUNCTIONS})
        for name in files.functions:
            self.translator.functions[name] = python_name(name, taken)
            taken.add(self.translator.functions[name])
        for _ in range(2):  # a top-level attribute's type, for the code that reads it
            for name, attribute in files.attributes.items():
                with contextlib.suppress(Untranslatable):
                    names[name] = (names[name][0], self.translator.expr(attribute, {})[1])
        self.taken = taken
        self.matrix_names: dict[str, str] = {}
        self.mixed: set[str] = set()  # matrix keys (python names) whose values are not all text
        self.untyped = False  # the target being written has entries the model parses from text
        self.classes: set[str] = set()  # the model's classes the targets are written with
        matrices = {n: t.attributes.get("matrix") for n, t in files.targets.items()}
        # groups whose order bake does not keep: a matrix of several keys (Go's map order) and `default`
        # (its members sorted, as `bake --print default` lists them)
        self.unordered = frozenset(
            n for n, m in matrices.items() if isinstance(m, h.Object) and len(m.items) > 1
        ) | {"default"}

    # -- expressions -----------------------------------------------------------------------------------------

    def nullable(self, e: h.Expr, scope: Mapping[str, str]) -> bool:
        """Whether the expression may be null (an attribute bake then leaves unset)."""
        if isinstance(e, h.Literal):
            return e.value is None
        if isinstance(e, h.Template):
            return (
                len(e.parts) == 1
                and not isinstance(e.parts[0], str | h.TemplateIf)
                and (self.nullable(e.parts[0], scope))
            )
        if isinstance(e, h.Tuple | h.Object | h.For | h.Binary | h.Unary):
            return False
        if isinstance(e, h.Conditional):
            return self.nullable(e.then, scope) or self.nullable(e.otherwise, scope)
        if isinstance(e, h.Name):
            if e.name in scope:
                return False  # a matrix value
            var = self.files.variables.get(e.name)
            return var is None or e.name in self.computed or self.defaults.get(e.name) is None
        if isinstance(e, h.Call):
            builtin = {**FUNCTIONS, **CLOCK_FUNCTIONS}.get(e.name)
            return builtin is None or builtin[1] not in _NOT_NULL_KINDS
        return True

    def attribute_nullable(self, key: str, e: h.Expr, scope: Mapping[str, str]) -> bool:
        """Whether the attribute's code may give None (a list is compact()ed, text tostring()ed: never)."""
        if isinstance(e, h.Conditional):
            return self.attribute_nullable(key, e.then, scope) or self.attribute_nullable(
                key, e.otherwise, scope
            )
        if isinstance(e, h.Literal):
            return e.value is None
        if key in _LIST:
            return False
        if key in _TEXT | _BOOL:
            kind = self.translator.expr(e, scope)[1]
            return kind in ("str", "bool", "null", "any") and self.nullable(e, scope)
        return self.nullable(e, scope)

    def text(self, e: h.Expr, scope: Mapping[str, str]) -> Any:
        return self.translator.text(e, scope)

    def item(self, e: h.Expr, scope: Mapping[str, str]) -> Any:
        """A list item of a target: text, or a map (`{type = "registry", ref = …}`) of text."""
        if isinstance(e, h.Object):
            return self.mapping(e, scope)
        return self.text(e, scope)

    def mapping(self, e: h.Object, scope: Mapping[str, str]) -> DictCode:
        items = []
        for key, value in e.items:
            if isinstance(value, h.Literal) and value.value is None:
                items.append((self.text(key, scope), Code("None")))
            else:
                items.append((self.text(key, scope), self.text(value, scope)))
        return DictCode(tuple(items))

    def entries(self, key: str, e: h.Expr) -> Any:
        """A structured list written out (`output = ["type=image,push=true"]`) as the model's classes
        (`Output(type="image", push="true")`), as the printed import writes it; None if it computes."""
        from bakepy.bake.importer.python import _ENTRY_CLASS, _py_entry, _Tuple

        cls = _ENTRY_CLASS.get(key)
        if cls is None or not isinstance(e, h.Tuple):
            return None
        texts: list[Any] = []
        for item in e.items:
            value = h.literal_item(item)
            if value is None:
                return None
            texts.append(value)
        import bakepy.model as model

        try:
            parsed = [getattr(model, cls).model_validate(v).bake_value() for v in texts]
        except ValueError:
            raise _Refused(f"an entry of {key}") from None
        return _Tuple(tuple(_py_entry(cls, v) for v in parsed))

    def list_code(self, e: h.Expr, scope: Mapping[str, str]) -> Any:
        """A list attribute: its empty items dropped (as bake drops them), null left null."""
        t = self.translator
        if isinstance(e, h.Literal) and e.value is None:
            return Code("None")
        if isinstance(e, h.Conditional):
            return IfElse(
                paren(self.list_code(e.then, scope), _OR),
                paren(t.boolean(e.condition, scope), _OR),
                paren(self.list_code(e.otherwise, scope), _IF),
            )
        if isinstance(e, h.Tuple):
            items = tuple(self.item(i, scope) for i in e.items)
            literal = all(
                isinstance(i, h.Object)
                or (isinstance(i, h.Literal) and isinstance(i.value, str) and i.value)
                or (isinstance(i, h.Template) and any(isinstance(p, str) and p for p in i.parts))
                for i in e.items
            )
            return ListCode(items) if literal else t.stdlib("compact", ListCode(items))
        return t.stdlib("compact", t.expr(e, scope)[0])

    def attribute(self, key: str, e: h.Expr, scope: Mapping[str, str]) -> Any:
        """A target attribute's code, converted as bake converts it."""
        t = self.translator
        written = h.literal_item(e)
        if key == "context" and isinstance(written, str):
            return Code(py_key(clean_path(written)))  # as bake prints it
        if key in _TEXT:
            code, kind = t.expr(e, scope)
            return code if kind in ("str", "null") else t.stdlib("tostring", code)
        if key in _BOOL:
            code, kind = t.expr(e, scope)
            return code if kind in ("bool", "null") else t.stdlib("tobool", code)
        if key in _LIST:
            entries = self.entries(key, e)
            if entries is not None:
                return entries
            if key in _STRUCTURED:
                self.untyped = (
                    True  # computed entries: the model parses them (bake_target takes Any)
                )
            return self.list_code(e, scope)
        if key in _MAP:
            if isinstance(e, h.Object):
                return self.mapping(e, scope)
            return t.expr(e, scope)[0]
        return t.expr(e, scope)[0]

    # -- the module ----------------------------------------------------------------------------------------

    def target_lines(self, target: h.HclTarget, first_matrix: bool) -> list[str]:
        """`targets["name"] = Target(…)`; a matrix target in loops, bake's order (`first_matrix`: the first,
        which declares the list of names its group is made of)."""
        from bakepy.bake.importer.python import _code_lines, _py_classes

        t = self.translator
        attrs = dict(target.attributes)
        matrix = attrs.pop("matrix", None)
        name_expr = attrs.pop("name", None)
        inherits = attrs.pop("inherits", None)
        scope: dict[str, str] = {}
        loops: list[tuple[str, Any]] = []
        if matrix is not None:
            if not isinstance(matrix, h.Object) or name_expr is None:
                raise _Refused("a matrix not written as a map, or without a name")
            for matrix_key, values in matrix.items:
                hcl_key = _key_name(matrix_key)
                if hcl_key not in self.matrix_names:
                    self.matrix_names[hcl_key] = python_name(hcl_key, self.taken)
                    self.taken.add(self.matrix_names[hcl_key])
                python = self.matrix_names[hcl_key]
                loops.append((python, t.expr(values, scope)[0]))
                scope[hcl_key] = python
                if not h.all_text(values):
                    self.mixed.add(python)  # a matrix key whose values may be other than text
                t.scope_kinds[python] = "any" if python in self.mixed else "str"
        elif name_expr is not None:
            raise _Refused("a name without a matrix")
        kwargs: list[tuple[str, Any]] = []
        self.untyped = False
        nullable = False
        if isinstance(inherits, h.Tuple):
            kwargs.append(
                ("inherits", ListCode(tuple(self.text(i, scope) for i in inherits.items)))
            )
        elif inherits is not None:
            kwargs.append(("inherits", t.expr(inherits, scope)[0]))
            nullable = self.nullable(inherits, scope)
        for key, e in attrs.items():
            if key not in _KNOWN:
                continue  # bake reads no such attribute (`targets` in a target): the proof checks it
            nullable = nullable or self.attribute_nullable(key, e, scope)
            node = self.attribute(key, e, scope)
            self.classes |= _py_classes(node)
            kwargs.append((key.replace("-", "_"), node))
        # a null attribute is left unset, as bake leaves it; entries parsed from computed text take Any
        call = KwCall("bake_target" if nullable or self.untyped else "Target", tuple(kwargs))
        if call.name == "bake_target":
            t.used_stdlib.add("bake_target")
        if not loops:
            return call_lines(call, 0, f"targets[{py_key(target.name)}] = ")
        # `for x in each(…)`: a list's items, a map's values in key order (as bake walks them)
        t.used_stdlib.add("each")
        lines = ["names: list[str] = []" if first_matrix else "names = []"]
        for i, (python, source) in enumerate(loops):
            lines += _code_lines(CallCode("each", (source,)), 4 * i, f"for {python} in ", ":")
        assert name_expr is not None
        append = CallCode("names.append", (self.text(name_expr, scope),))
        lines += _code_lines(append, 4 * len(loops), "", "")
        lines += call_lines(call, 4 * len(loops), "targets[names[-1]] = ")
        return [*lines, f"groups[{py_key(target.name)}] = Group(targets=names)"]

    def lines(self) -> list[str]:
        files, t = self.files, self.translator
        target_lines: list[str] = ["targets: dict[str, Target] = {}"]
        group_lines: list[str] = []
        matrices = 0
        for target in files.targets.values():
            target_lines += self.target_lines(target, matrices == 0)
            matrices += "matrix" in target.attributes
        uses_groups = bool(files.groups) or matrices > 0
        for group_name, group in files.groups.items():
            kwargs = []
            for group_key, member in group.items():
                if group_key == "targets":
                    if isinstance(member, h.Tuple):
                        code: Any = ListCode(tuple(self.text(i, {}) for i in member.items))
                    else:
                        code = t.expr(member, {})[0]
                    kwargs.append(("targets", code))
                elif group_key == "description":
                    kwargs.append(("description", self.text(member, {})))
                else:
                    raise _Refused(f"group {group_name}: {group_key}")
            group_lines += call_lines(
                KwCall("Group", tuple(kwargs)), 0, f"groups[{py_key(group_name)}] = "
            )
        classes = {"Project", "Target", "Variable"} | self.classes
        if uses_groups:
            classes.add("Group")
            target_lines.insert(1, "groups: dict[str, Group] = {}")

        # bake's checks of the values, then the definitions all of it reads, transitively
        t.scope_kinds.clear()  # a function's parameters are of any type, whatever their names
        checks = self.validation_lines()
        defs, functions = self.definitions()
        if "timestamp" in t.used_stdlib:
            self.clock = True

        # variables
        var_items = []
        for name in files.variables:
            if name in self.constants:
                continue
            kwargs = []
            if name in self.defaults and self.defaults[name] is not None:
                kwargs.append(("default", self.defaults[name]))
            var_items.append((name, KwCall("Variable", tuple(kwargs))))
        stdlib = set(t.used_stdlib) | {"variable_values"}
        reads: list[str] = ["value = variable_values(variables)"]
        as_text: list[str] = []
        for name in files.variables:
            if name not in t.used_names or name in self.computed or name in self.constants:
                continue
            python, kind = t.names[name]
            if name in self.as_text:
                as_text.append(f"{python} = {py_key('${' + name + '}')}")
                continue
            read = f"value[{py_key(name)}]"
            if kind in ("bool", "number"):
                parse = "parse_bool" if kind == "bool" else "parse_number"
                stdlib.add(parse)
                read = f"{parse}({read})"
            elif self.defaults.get(name) is not None:
                read += ' or ""'
            reads.append(f"{python} = {read}")
        if not any("value[" in line for line in (*reads, *defs)):
            reads.pop(0)  # every variable stays `${NAME}`: nothing reads the values
            stdlib.discard("variable_values")
        if as_text:
            reads += [
                "# only ever a part of a text: left for bakepy to fill in (and check) at render"
            ]
            reads += as_text

        lines: list[str] = []
        if functions:
            lines += ["from typing import Any", ""]
        from bakepy.bake.importer.python import _import_lines

        ordered = sorted(classes, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
        lines += _import_lines(self.module, ordered)
        if stdlib:
            lines += _import_lines(f"{self.module}.bakefuncs", sorted(stdlib))
        lines.append("")
        lines += (
            dict_lines("variables = {", var_items)
            if var_items
            else ["variables: dict[str, Variable] = {}"]
        )
        lines += reads
        for fn_lines in functions:
            lines += ["", "", *fn_lines]
        defs += checks
        if defs:
            lines += ["", "", *defs] if functions else defs
        lines += ["", "", *target_lines] if functions and not defs else ["", *target_lines]
        lines += group_lines
        project_kwargs = "variables=variables, targets=targets"
        if uses_groups:
            project_kwargs += ", groups=groups"
        lines.append(f"project = Project({project_kwargs})")
        return lines

    def validation_lines(self) -> list[str]:
        """`if not condition: raise ValueError(error_message)` for each `validation` block, so that bakepy
        refuses a value bake refuses (cloudnative-pg's `environment`: testing or production)."""
        from bakepy.bake.importer.python import _code_lines

        t = self.translator
        lines: list[str] = []
        for var in self.files.variables.values():
            for condition, message in var.validations:
                test = t.boolean(condition, {})
                lines += _code_lines(Prefix("not ", paren(test, _NOT)), 0, "if ", ":")
                said = (
                    self.text(message, {})
                    if message is not None
                    else Code(py_key(f"invalid {var.name}"))
                )
                lines += _code_lines(CallCode("raise ValueError", (said,)), 4, "", "")
        return lines

    def definitions(self) -> tuple[list[str], list[list[str]]]:
        """The top-level attributes and computed variable defaults the code reads (in the order they need
        each other), and the user functions it calls, as lines."""
        from bakepy.bake.importer.python import _code_lines, _def_lines

        files, t = self.files, self.translator
        codes: dict[str, Any] = {}
        deps: dict[str, set[str]] = {}
        functions: dict[str, list[str]] = {}
        while True:
            pending = [
                n
                for n in sorted(t.used_names)
                if n not in codes
                and (n in files.attributes or n in self.computed or n in self.constants)
            ]
            pending_f = [f for f in sorted(t.used_functions) if f not in functions]
            if not pending and not pending_f:
                break
            for name in pending:
                before = set(t.used_names)
                t.used_names.clear()
                if name in self.computed:
                    codes[name] = t.expr(self.computed[name], {})[0]
                    declared = self.kinds[name]
                    if declared in ("bool", "number"):
                        t.used_stdlib.add("parse_bool" if declared == "bool" else "parse_number")
                elif name in self.constants:
                    codes[name] = t.expr(self.constants[name], {})[0]
                else:
                    codes[name] = t.expr(files.attributes[name], {})[0]
                deps[name] = set(t.used_names)
                t.used_names |= before
            for fname in pending_f:
                fn = files.functions[fname]
                taken = set(t.functions.values())  # a parameter may shadow a global, as in bake
                scope = {
                    p: python_name(p, taken)
                    for p in (*fn.params, *((fn.variadic,) if fn.variadic else ()))
                }
                result, _ = t.expr(fn.result, scope)
                params = [f"{scope[p]}: Any" for p in fn.params]
                if fn.variadic:
                    params.append(f"*{scope[fn.variadic]}_: Any")
                out = _def_lines(t.functions[fname], params)
                out.append(f'    """bake\'s function "{fname}"."""')
                if fn.variadic:
                    out.append(f"    {scope[fn.variadic]} = list({scope[fn.variadic]}_)")
                out += _code_lines(result, 4, "return ", "")
                functions[fname] = out
        order: list[str] = []

        def visit(name: str, stack: tuple[str, ...]) -> None:
            if name in order:
                return
            if name in stack:
                raise _Refused(f"{name} refers to itself")
            for dep in sorted(deps.get(name, ())):
                if dep in codes:
                    visit(dep, (*stack, name))
            order.append(name)

        for name in codes:
            visit(name, ())
        lines: list[str] = []
        for name in order:
            python = t.names[name][0]
            if name in self.computed:
                # the environment's value, else the default bake computes (variable_values cannot)
                read = f"value[{py_key(name)}]"
                parse = {"bool": "parse_bool", "number": "parse_number"}.get(self.kinds[name])
                lines.append(f"{python} = {parse}({read})" if parse else f"{python} = {read}")
                lines.append(f"if {python} is None:")
                lines += _code_lines(codes[name], 4, f"{python} = ", "")
            else:
                lines += _code_lines(codes[name], 0, f"{python} = ", "")
        return lines, [functions[f] for f in files.functions if f in functions]
