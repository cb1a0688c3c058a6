"""From a trained network to files people deploy: the ONNX model (with its digit-likeness
subspace and card), int8 and fp16 copies, and C source for firmware. Uses torch and onnx;
nothing on the inference path imports this package."""
