"""lrcn: CNN-LSTM (LRCN) video classifiers from training to the edge."""

__version__ = "0.1.0"
