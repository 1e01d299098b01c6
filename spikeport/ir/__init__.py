"""Graph IR: typed frozen nodes on a networkx DiGraph, shapes, integer formats, save/load."""
