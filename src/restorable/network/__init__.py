"""The quasi-invertible network: invertible blocks, encoder-decoder ψ, storage model µ."""
