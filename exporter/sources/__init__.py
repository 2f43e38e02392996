"""Sources: each does I/O against one kind of target and returns typed records."""
