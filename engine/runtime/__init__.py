"""The torch-free runtime: readers, signed bundles, inference, saliency, comparison, energy."""
