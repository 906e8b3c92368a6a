"""Data: the fixed photo split, cached training pairs (I, f(I)) and random aligned crops."""
