"""Where image and object bytes live: the store contract (base), files on disk (file) and a fake (memory)."""
