"""connective: the platform-neutral core."""
