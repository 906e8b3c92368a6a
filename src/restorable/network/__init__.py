"""The quasi-invertible network: invertible blocks, the encoder-decoder ψ, and the storage model µ."""
