"""Front ends and passes: torch.fx, checkpoints, netx/NIR import, BN folding, quantisation,
lowering."""
