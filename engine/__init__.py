"""CPU inference engine: self-attention models, int8 quantisation, trusted bundles.

Two parts, one folder each:

- ``engine.runtime``: what the viewer and the installer ship. Readers (``io``), signed bundles,
  ONNX Runtime inference with the SaDNN operator library (``operators``), RISE saliency,
  segmentation comparison and energy. Needs numpy and ONNX Runtime, never torch.
- ``engine.modelling``: the torch side. Local self-attention ``layers``, the ``models``, int8
  quantisation, export (portable and fused graphs) and the MAC/parameter/size profile.

Nothing is imported eagerly, so ``import engine`` never pulls in torch.
"""

__version__ = "0.1.0"
