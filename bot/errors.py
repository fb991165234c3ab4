class UserError(Exception):
    """A mistake a user can fix (bad setting, missing file); shown as one line, no traceback."""
