"""The attention variants spikeport knows: the one list, one module per variant.

``VARIANT_MODULES`` below is the list (its order is the order of ``names()``, the CLI's and
the model registry's ``ATTENTION_TYPES``). Each module defines ``VARIANT``, an
:class:`AttentionVariant`; :func:`variant` looks one up by the name an ``Attention`` /
``IntAttention`` node carries. ``LOWERING_PASSES`` names the lowering passes in pipeline order
with their descriptions; a variant names one (new variants: ``lower-attention``).
Adding a variant: docs/extending.md.
"""

from spikeport.ir.attention import axnor, lrf_dyn, lrf_ssa, sdsa, ssa
from spikeport.ir.attention.variant import (
    LOWERING_PASSES,
    AttentionVariant,
    CoreCall,
    bits_for,
    names,
    register,
    relative_error,
    unregister,
    variant,
    variants,
)

VARIANT_MODULES = (ssa, axnor, lrf_ssa, lrf_dyn, sdsa)

for _module in VARIANT_MODULES:
    register(_module.VARIANT)

__all__ = [
    "LOWERING_PASSES",
    "VARIANT_MODULES",
    "AttentionVariant",
    "CoreCall",
    "bits_for",
    "names",
    "register",
    "relative_error",
    "unregister",
    "variant",
    "variants",
]
