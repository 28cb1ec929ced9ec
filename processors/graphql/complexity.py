"""Operation complexity: an estimate of the work an operation asks for, from its parsed AST.

One walk over the document graphql-core already parsed (nothing is parsed twice), with the
schema when there is one. The cost model::

    cost(operation)  = sum(cost(f) for each root field f)
    cost(field)      = own_cost + multiplier × sum(cost(child) for each child selection)
                       + mutation_cost            (root fields of a mutation only)
    own_cost         = 1 for a composite field (object, interface, union), 0 for a leaf
                       (scalar, enum)
    multiplier       = the field's slicing argument (first, last, limit, pageSize; literal or
                       variable; the largest when several are given), else default_list_size
                       for a list field, else 1

- Fragment spreads and inline fragments count as their selections; the branches of an
  abstract type are added up (an upper bound: one object is only ever one of them).
- A field that is not a list but is given a slicing argument is a connection (Relay's
  ``books(first: 5) { edges { node { … } } }``): the argument is its multiplier, and the list
  fields directly under it (``edges``, ``nodes``) do not multiply again by default_list_size.
- Per-field configuration (``Type.field=cost*arg|arg``, see ``cost_config``) replaces the
  own cost, and its arguments, when the operation gives one, replace the multiplier.
- Introspection fields (``__schema``, ``__type``, ``__typename``) count for nothing, depth
  included, when ``ignore_introspection`` is set.
- ``@skip(if:)`` / ``@include(if:)`` are honoured when the condition is a literal, or a
  variable whose value is known; otherwise the selection counts (the larger estimate).
- Slicing variables: the value given; when the variables are known but this one is absent,
  the literal default of its definition; otherwise (variables unknown, as during validation,
  or not an int) default_list_size. A negative value counts as 0.
- Without a schema: a field with a selection set is composite, a field given a slicing
  argument is a list, other fields are leaves and never lists; per-field configuration
  applies only where the type name is known (root fields, inline-fragment and fragment type
  conditions).

Depth is the deepest nesting of fields (root fields are at depth 1; fragments add none).
alias_count is the number of aliased fields among those analysed, each fragment counted once.
Fragment cycles (invalid documents) contribute nothing past the repeat; each fragment is
analysed once per context, so fragments spread many times cost linear time, not exponential.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.type import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef
from graphql.utilities import get_operation_ast

from processors.graphql.cost_config import FieldCost
from processors.graphql.signature import reachable_selections

__all__ = [
    "SLICING_ARGUMENTS",
    "Complexity",
    "ComplexityConfig",
    "analyze",
    "analyze_operation",
    "variables_that_matter",
]

SLICING_ARGUMENTS = ("first", "last", "limit", "pageSize")
_INTROSPECTION = frozenset(("__schema", "__type", "__typename"))
_META_FIELDS = {
    "__schema": SchemaMetaFieldDef,
    "__type": TypeMetaFieldDef,
    "__typename": TypeNameMetaFieldDef,
}
_COMPOSITE = (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)
_ROOT_NAMES = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}


@dataclass(frozen=True)
class ComplexityConfig:
    max_complexity: int = 100
    default_list_size: int = 10
    mutation_cost: int = 10
    field_costs: tuple[FieldCost, ...] = ()
    ignore_introspection: bool = True
    # "Type.field" → (cost, multiplier arguments), derived from field_costs once.
    costs: Mapping[str, tuple[int, tuple[str, ...]]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        entries = tuple((str(k), int(c), tuple(a)) for k, c, a in self.field_costs)
        object.__setattr__(self, "field_costs", entries)
        object.__setattr__(self, "costs", {k: (c, a) for k, c, a in entries})

    @classmethod
    def from_settings(cls, settings: Any) -> ComplexityConfig:
        return cls(
            max_complexity=settings.graphql_max_complexity,
            default_list_size=settings.graphql_default_list_size,
            mutation_cost=settings.graphql_mutation_cost,
            field_costs=tuple(settings.graphql_field_costs),
            ignore_introspection=settings.graphql_ignore_introspection,
        )


@dataclass(frozen=True)
class Complexity:
    score: int
    depth: int
    alias_count: int


def analyze(
    schema: GraphQLSchema | None,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    config: ComplexityConfig,
) -> Complexity:
    """Complexity of the operation graphql-core would execute; zeros when there is none."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return Complexity(0, 0, 0)
    return analyze_operation(schema, document, operation, variables, config)


def analyze_operation(
    schema: GraphQLSchema | None,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    config: ComplexityConfig,
) -> Complexity:
    """Complexity of one operation of ``document``; ``variables`` None means unknown."""
    if schema is not None and not isinstance(schema, GraphQLSchema):
        schema = getattr(schema, "graphql_schema", None)  # a graphene.Schema, say
    walker = _Walker(schema, document, operation, variables, config)
    kind = operation.operation.value
    root_type = schema.get_root_type(operation.operation) if schema is not None else None
    root_name = root_type.name if root_type is not None else _ROOT_NAMES.get(kind)
    score, depth = walker.selections(
        operation.selection_set, root_type, root_name, kind == "mutation", False
    )
    return Complexity(score, depth, walker.aliases)


def variables_that_matter(
    document: DocumentNode, operation: OperationDefinitionNode, config: ComplexityConfig
) -> tuple[str, ...]:
    """Names of the variables whose values can change the analysis, sorted.

    Those given to an argument named like a slicing or configured multiplier argument (on
    any field: a superset, found without the schema) and to ``@skip``/``@include``, anywhere
    in the operation and its fragments, skipped parts included, so that a cache keyed by
    their values is never stale. Other variables (``book(id: $id)``) do not matter.
    """
    multipliers = {*SLICING_ARGUMENTS, *(arg for _, _, args in config.field_costs for arg in args)}
    names: set[str] = set()
    for selection in reachable_selections(operation.selection_set, _fragments(document)):
        for directive in selection.directives or ():
            if directive.name.value in ("skip", "include"):
                names.update(_variables(directive.arguments, ("if",)))
        if isinstance(selection, FieldNode):
            names.update(_variables(selection.arguments, multipliers))
    return tuple(sorted(names))


def _variables(arguments, wanted) -> list[str]:
    return [
        a.value.name.value
        for a in arguments or ()
        if a.name.value in wanted and isinstance(a.value, VariableNode)
    ]


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments.setdefault(definition.name.value, definition)
    return fragments


class _Walker:
    """The state of one analysis: fragments, memo, aliases seen, the variables."""

    def __init__(self, schema, document, operation, variables, config: ComplexityConfig):
        self.schema = schema
        self.config = config
        self.variables = variables
        self.fragments = _fragments(document)
        self.defaults = {
            d.variable.name.value: d.default_value for d in operation.variable_definitions or ()
        }
        self.memo: dict[tuple, tuple[int, int]] = {}
        self.in_progress: set[str] = set()
        self.alias_counted: set[str] = set()
        self.counting_aliases = True
        self.aliases = 0

    def selections(
        self, selection_set: SelectionSetNode, parent, parent_name, mutation_root, paged
    ) -> tuple[int, int]:
        """(cost, depth) of a selection set on ``parent`` (a type, or None when unknown)."""
        cost = depth = 0
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                sub_cost, sub_depth = self._field(
                    selection, parent, parent_name, mutation_root, paged
                )
            elif isinstance(selection, InlineFragmentNode):
                sub_type, sub_name = self._condition(selection, parent, parent_name)
                sub_cost, sub_depth = self.selections(
                    selection.selection_set, sub_type, sub_name, mutation_root, paged
                )
            elif isinstance(selection, FragmentSpreadNode):
                sub_cost, sub_depth = self._spread(selection, mutation_root, paged)
            else:  # pragma: no cover - the three selection kinds above are all there is
                continue
            cost += sub_cost
            depth = max(depth, sub_depth)
        return cost, depth

    def _field(self, node: FieldNode, parent, parent_name, mutation_root, paged):
        name = node.name.value
        if name in _INTROSPECTION and self.config.ignore_introspection:
            return 0, 0
        if node.alias is not None and self.counting_aliases:
            self.aliases += 1
        definition = self._definition(parent, name)
        if definition is not None:
            # Unwrapped by hand: graphql-core's get_named_type and friends cost a few times
            # more (typing casts), and this runs for every field of every analysis.
            named = definition.type
            if isinstance(named, GraphQLNonNull):
                named = named.of_type
            is_list = isinstance(named, GraphQLList)
            while isinstance(named, GraphQLList | GraphQLNonNull):
                named = named.of_type
            composite = isinstance(named, _COMPOSITE)
            child_type, child_name = named, named.name
        else:
            composite = node.selection_set is not None
            is_list = False
            child_type = child_name = None
        costs = self.config.costs
        override = costs.get(f"{parent_name}.{name}") if costs and parent_name else None
        own = override[0] if override is not None else (1 if composite else 0)
        sliced = None
        if override is not None and override[1]:
            sliced = self._first_given(node, override[1])
        if sliced is None:
            sliced = self._slicing(node)
        if sliced is not None:
            multiplier = sliced
        elif is_list and not paged:
            multiplier = self.config.default_list_size
        else:
            multiplier = 1
        child_cost = child_depth = 0
        if node.selection_set is not None:
            child_paged = sliced is not None and not is_list
            child_cost, child_depth = self.selections(
                node.selection_set, child_type, child_name, False, child_paged
            )
        cost = own + multiplier * child_cost
        if mutation_root:
            cost += self.config.mutation_cost
        return cost, child_depth + 1

    def _spread(self, node: FragmentSpreadNode, mutation_root, paged):
        name = node.name.value
        fragment = self.fragments.get(name)
        if fragment is None or name in self.in_progress:  # unknown, or a cycle
            return 0, 0
        key = (name, mutation_root, paged)
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        sub_type, sub_name = self._condition(fragment, None, None)
        counting = self.counting_aliases
        self.counting_aliases = counting and name not in self.alias_counted
        self.alias_counted.add(name)
        self.in_progress.add(name)
        try:
            result = self.selections(
                fragment.selection_set, sub_type, sub_name, mutation_root, paged
            )
        finally:
            self.in_progress.discard(name)
            self.counting_aliases = counting
        self.memo[key] = result
        return result

    def _condition(self, node, parent, parent_name):
        condition = node.type_condition
        if condition is None:
            return parent, parent_name
        name = condition.name.value
        named = self.schema.get_type(name) if self.schema is not None else None
        return named, name

    def _definition(self, parent, name: str):
        if name in _META_FIELDS:
            return _META_FIELDS[name]
        fields = getattr(parent, "fields", None)
        return fields.get(name) if fields is not None else None

    def _slicing(self, node: FieldNode) -> int | None:
        """The largest slicing argument given, default_list_size when its value is unknown."""
        found = None
        for argument in node.arguments or ():
            if argument.name.value in SLICING_ARGUMENTS:
                value = self._int(argument.value)
                found = max(found or 0, value)
        return found

    def _first_given(self, node: FieldNode, names: tuple[str, ...]) -> int | None:
        given = {a.name.value: a.value for a in node.arguments or ()}
        for name in names:
            if name in given:
                return self._int(given[name])
        return None

    def _int(self, value) -> int:
        if isinstance(value, VariableNode) and self.variables is not None:
            name = value.name.value
            if name in self.variables:
                value = self.variables[name]
            else:
                value = self.defaults.get(name)
        if isinstance(value, IntValueNode):
            value = int(value.value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return max(value, 0)
        return self.config.default_list_size

    def _included(self, node) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            condition = self._condition_value(directive)
            if condition is None:
                continue  # unknown: count it
            if (name == "skip") == condition:
                return False
        return True

    def _condition_value(self, directive) -> bool | None:
        for argument in directive.arguments or ():
            if argument.name.value != "if":
                continue
            value = argument.value
            if isinstance(value, BooleanValueNode):
                return value.value
            if isinstance(value, VariableNode) and self.variables is not None:
                given = self.variables.get(value.name.value, self.defaults.get(value.name.value))
                if isinstance(given, BooleanValueNode):
                    return given.value
                return given if isinstance(given, bool) else None
        return None
