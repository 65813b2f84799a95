"""Request signals: cheap-to-expensive features of a request, computed once, lazily, in parallel."""
