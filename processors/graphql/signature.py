"""Operation signatures: one canonical text per operation shape, with no literal values in it.

The same two jobs as SQL fingerprinting (``processors/sql_fingerprint.py``): group executions
of "the same operation" whatever values, aliases, field order or whitespace the client sent,
and store a document text that carries none of the app's data.

``signature`` follows Apollo's usage-reporting signature (``@apollo/utils.usagereporting``),
so an operation keeps the identity it has in Apollo Studio:

1. Drop unused definitions: keep the chosen operation and the fragments it reaches (through
   other fragments too); other operations and unused fragments go.
2. Hide literals: strings become ``""`` (block strings too), ints and floats ``0``, lists
   ``[]``, input objects ``{}``. Booleans, ``null``, enum values and variables stay: they are
   part of the schema's vocabulary or of the operation's shape, not data.
3. Remove aliases.
4. Sort, stably: definitions by kind then name (fragments before the operation); selections
   by kind then name (fields, then fragment spreads, then inline fragments, which keep their
   relative order); arguments of fields and directives by name; variable definitions by
   variable name; directives of fragment spreads, inline fragments and fragment definitions
   by name. Directives on fields and operations keep their order, as in Apollo: sorting them
   too would change the signature, hence the operation id, of such operations.
5. Print as graphql-js's ``print`` does and reduce whitespace: runs become one space, and a
   space goes wherever it touches a character that is not part of a name
   (``query Q($a:Int){user(id:$a){name pets{name}}}``). Descriptions, which newer parsers
   accept on executable definitions, are not printed: free text, and not part of the shape.

``stripped_document`` is what gets stored as the operation's text: steps 1, 2 and 5 only, so
the client's aliases and field order stay readable, and still no literal value is kept.

When no operation can be chosen (``get_operation_ast``: no name and several operations, or a
name that is not there) nothing is dropped, as in Apollo: the whole document is signed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    ListTypeNode,
    ListValueNode,
    Node,
    NonNullTypeNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableDefinitionNode,
    VariableNode,
)
from graphql.utilities import get_operation_ast

__all__ = [
    "apollo_operation_id",
    "choose_operation",
    "query_hash",
    "signature",
    "stripped_document",
    "used_fragments",
]


def choose_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    """The operation graphql-core would execute, or None when that is ambiguous or missing."""
    return get_operation_ast(document, operation_name)


def reachable_selections(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
):
    """Every selection under ``selection_set``, through fragments, each fragment entered once.

    Iterative, and a fragment is never entered twice: cycles (invalid, but parseable) end."""
    entered: set[str] = set()
    pending: list[SelectionSetNode] = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            yield selection
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in entered and name in fragments:
                    entered.add(name)
                    pending.append(fragments[name].selection_set)
            elif selection.selection_set is not None:
                pending.append(selection.selection_set)


def used_fragments(
    document: DocumentNode, operation: OperationDefinitionNode
) -> list[FragmentDefinitionNode]:
    """The fragment definitions ``operation`` reaches, directly or not, in document order."""
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments.setdefault(definition.name.value, definition)
    reached = {
        selection.name.value
        for selection in reachable_selections(operation.selection_set, fragments)
        if isinstance(selection, FragmentSpreadNode)
    }
    return [
        d
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode) and d.name.value in reached
    ]


def signature(document: DocumentNode, operation_name: str | None) -> str:
    """Apollo's usage-reporting signature of the operation (see the module docstring)."""
    return _print(_kept_definitions(document, operation_name), sort=True, drop_aliases=True)


def stripped_document(document: DocumentNode, operation_name: str | None) -> str:
    """The operation and its fragments, literals hidden, aliases and order kept, compact."""
    return _print(_kept_definitions(document, operation_name), sort=False, drop_aliases=False)


def query_hash(signature: str) -> str:
    """First 16 hex digits of SHA-256 of the signature: the key that groups operations.

    64 bits: collisions stay negligible far beyond the number of distinct operations any app
    has (about one in 10^7 at 2 million shapes), while the key stays short to store, index and
    read in reports. SHA-256 rather than a faster hash because it is the same in every
    language, so other tools can recompute the key from a stored signature.
    """
    return hashlib.sha256(signature.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def apollo_operation_id(operation_name: str | None, signature: str) -> str:
    """SHA-1 hex of Apollo's stats report key: ``# <name or ->`` newline signature.

    Apollo Server keys its usage reports by `# ${operationName || '-'}\\n${signature}` (an
    anonymous operation is named ``-``) and the Apollo Router exposes the SHA-1 of that key
    as ``apollo_operation_id``, the id Apollo Studio shows for the operation.
    """
    key = "# " + (operation_name or "-") + "\n" + signature
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()


# --- The printer ----------------------------------------------------------------------------
#
# Steps 2 to 5 in one pass that writes the reduced text directly: copying the AST to
# transform it and printing it with graphql-core's visitor-based printer cost about ten
# times as much (milliseconds for a 100-field document). Nothing here mutates the document:
# it is the server's, possibly cached and executed again.
#
# The output is made of tokens; the reduced form has a space between two tokens only where
# both touching characters belong to names (``_glue``). That is exactly what the regexes of
# Apollo's printWithReducedWhitespace leave of graphql-js's printed text, because the printer
# always separates two such characters with whitespace and the regexes remove every other
# space. One quirk of the printer is kept on purpose: a field whose printed argument line is
# longer than 80 characters gets its arguments one per line without commas, which reduces
# to ``(a:0 b:$x)`` instead of ``(a:0,b:$x)``.

_MAX_LINE_LENGTH = 80
_WORD = frozenset("_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _kept_definitions(document: DocumentNode, operation_name: str | None) -> list[Node]:
    operation = choose_operation(document, operation_name)
    if operation is None:
        return list(document.definitions)
    # By identity: graphql-core nodes compare (and hash) by deep content, which is slow.
    kept = {id(operation), *map(id, used_fragments(document, operation))}
    return [d for d in document.definitions if id(d) in kept]


def _print(definitions: list[Node], sort: bool, drop_aliases: bool) -> str:
    printer = _Printer(sort, drop_aliases)
    if sort:
        definitions = sorted(definitions, key=_kind_and_name)
    for definition in definitions:
        if isinstance(definition, OperationDefinitionNode):
            printer.operation(definition)
        elif isinstance(definition, FragmentDefinitionNode):
            printer.fragment(definition)
    return _glue(printer.tokens)


def _glue(tokens: list[str]) -> str:
    out: list[str] = []
    last = " "
    for token in tokens:
        if last in _WORD and token[0] in _WORD:
            out.append(" ")
        out.append(token)
        last = token[-1]
    return "".join(out)


class _Printer:
    __slots__ = ("sort", "drop_aliases", "tokens")

    def __init__(self, sort: bool, drop_aliases: bool) -> None:
        self.sort = sort
        self.drop_aliases = drop_aliases
        self.tokens: list[str] = []

    def operation(self, node: OperationDefinitionNode) -> None:
        kind = node.operation.value
        shorthand = (
            kind == "query"
            and node.name is None
            and not node.variable_definitions
            and not node.directives
        )
        if not shorthand:
            self.tokens.append(kind)
            if node.name is not None:
                self.tokens.append(node.name.value)
            self.variable_definitions(node.variable_definitions)
            self.directives(node.directives, reorder=False)
        self.selection_set(node.selection_set)

    def fragment(self, node: FragmentDefinitionNode) -> None:
        self.tokens += ("fragment", node.name.value)
        self.variable_definitions(getattr(node, "variable_definitions", None))
        self.tokens += ("on", node.type_condition.name.value)
        self.directives(node.directives, reorder=True)
        self.selection_set(node.selection_set)

    def variable_definitions(self, definitions: Sequence[VariableDefinitionNode] | None):
        if not definitions:
            return
        if self.sort:
            definitions = sorted(definitions, key=lambda d: d.variable.name.value)
        printed = []
        for definition in definitions:
            text = f"${definition.variable.name.value}:{_type(definition.type)}"
            if definition.default_value is not None:
                text += "=" + _hidden(definition.default_value)
            printed.append(text + "".join(self.directive_texts(definition.directives, False)))
        self.tokens.append("(" + ",".join(printed) + ")")

    def directive_texts(self, directives: Sequence[DirectiveNode] | None, reorder: bool):
        # Apollo sorts every directive's arguments, but reorders the directives themselves
        # only on fragment spreads, inline fragments and fragment definitions.
        if not directives:
            return []
        if self.sort and reorder:
            directives = sorted(directives, key=_name)
        texts = []
        for directive in directives:
            arguments = self.arguments(directive.arguments)
            text = "@" + directive.name.value
            texts.append(text + "(" + ",".join(arguments) + ")" if arguments else text)
        return texts

    def directives(self, directives: Sequence[DirectiveNode] | None, reorder: bool) -> None:
        self.tokens += self.directive_texts(directives, reorder)

    def arguments(self, arguments: Sequence | None) -> list[str]:
        if not arguments:
            return []
        if self.sort:
            arguments = sorted(arguments, key=_name)
        return [f"{a.name.value}:{_hidden(a.value)}" for a in arguments]

    def selection_set(self, node: SelectionSetNode | None) -> None:
        if node is None:
            return
        selections = node.selections
        if self.sort:
            selections = sorted(selections, key=_kind_and_name)
        tokens = self.tokens
        tokens.append("{")
        for selection in selections:
            if isinstance(selection, FieldNode):
                self.field(selection)
            elif isinstance(selection, FragmentSpreadNode):
                tokens.append("..." + selection.name.value)
                self.directives(selection.directives, reorder=True)
            elif isinstance(selection, InlineFragmentNode):
                tokens.append("...")
                if selection.type_condition is not None:
                    tokens += ("on", selection.type_condition.name.value)
                self.directives(selection.directives, reorder=True)
                self.selection_set(selection.selection_set)
        tokens.append("}")

    def field(self, node: FieldNode) -> None:
        name = node.name.value
        if node.alias is not None and not self.drop_aliases:
            prefix, printed_prefix = f"{node.alias.value}:{name}", len(node.alias.value) + 2
        else:
            prefix, printed_prefix = name, 0
        arguments = self.arguments(node.arguments)
        if not arguments:
            self.tokens.append(prefix)
        else:
            # graphql-core's printer writes "name: value, " where this writes "name:value,".
            printed = printed_prefix + len(name) + sum(len(a) + 3 for a in arguments)
            if printed > _MAX_LINE_LENGTH:
                self.tokens += (prefix + "(", *arguments, ")")
            else:
                self.tokens.append(prefix + "(" + ",".join(arguments) + ")")
        self.directives(node.directives, reorder=False)
        self.selection_set(node.selection_set)


def _type(node: Node) -> str:
    if isinstance(node, NonNullTypeNode):
        return _type(node.type) + "!"
    if isinstance(node, ListTypeNode):
        return "[" + _type(node.type) + "]"
    return node.name.value


def _hidden(value: Node) -> str:
    if isinstance(value, VariableNode):
        return "$" + value.name.value
    if isinstance(value, IntValueNode | FloatValueNode):
        return "0"
    if isinstance(value, StringValueNode):
        return '""'
    if isinstance(value, ListValueNode):
        return "[]"
    if isinstance(value, ObjectValueNode):
        return "{}"
    if isinstance(value, BooleanValueNode):
        return "true" if value.value else "false"
    if isinstance(value, NullValueNode):
        return "null"
    return value.value  # an enum value


def _name(node: Node) -> str:
    return node.name.value


def _kind_and_name(node: Node) -> tuple[str, str]:
    # graphql-core's kinds sort as graphql-js's do: field < fragment_spread < inline_fragment,
    # fragment_definition < operation_definition. Unnamed nodes tie and keep their order
    # (sorted is stable, like lodash's sortBy).
    name = getattr(node, "name", None)
    return node.kind, name.value if name is not None else ""
