"""Lava backend. Only this package imports Lava, and only lazily."""
