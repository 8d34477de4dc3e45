"""The one exception `ouro vm` raises for failures it can explain in a line."""


class VmError(Exception):
    """Something the operator must fix or retry; `ouro vm` prints it as one line, exits 1."""


class RecipeError(VmError):
    """The recipe is not valid; the message names the file and the field."""
