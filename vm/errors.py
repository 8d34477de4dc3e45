"""The one exception `ouro vm` raises for failures it can explain in a line."""


class VmError(Exception):
    """Something the operator must fix or retry; `ouro vm` prints it as one line, exits 1."""


class InputError(VmError):
    """What `ouro vm` was given cannot be used (a name, a path, a recipe); exit code 2."""


class RecipeError(InputError):
    """The recipe is not valid; the message names the file and the field."""
