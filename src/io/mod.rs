//! Reading and writing files: model files (JSON), trained weights (.npy/.npz/.safetensors).
