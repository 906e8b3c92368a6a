"""Training: the restorable models (``train``) and the style networks (``style``)."""
