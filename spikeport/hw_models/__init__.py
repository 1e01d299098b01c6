"""Hardware models: integer formats, limits, energy tables, the bit-accurate simulator."""
