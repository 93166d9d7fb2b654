"""CPU inference engine: self-attention models, int8 quantisation, trusted bundles.

The package splits in two. The runtime part (``card``, ``bundle``, ``preprocess``,
``inference``, ``energy``, ``labels``, ``errors``) needs only numpy and ONNX Runtime and is
what the viewer and the installer use. The model part (``layers``, ``models``, ``profile``,
``quantize``, ``export``) needs torch and is used for training, export and reports.
Nothing here is imported eagerly, so ``import engine`` never pulls in torch.
"""

__version__ = "0.1.0"
