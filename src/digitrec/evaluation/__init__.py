"""Testing a model on labelled images: metrics, tables, the report folder and its figures.
Torch-free (a model is scored through ONNX Runtime); the figures need the evaluate extra."""
