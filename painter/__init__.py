"""painter: photo→Monet GANs for Kaggle's "I'm Something of a Painter Myself"."""

__version__ = "0.1.0"
