"""PyTorch side: LIF neuron, attention variants, Spikformer / SDT builders, training."""
