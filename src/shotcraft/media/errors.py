"""The one error type for media problems a user can fix (bad files, bad paths); its text is one plain line."""


class MediaError(ValueError):
    """A media file or output path that cannot be used; ``str(error)`` is the reason, in one line."""
