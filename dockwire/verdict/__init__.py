"""The static verdict engine: model in, verdict out."""
