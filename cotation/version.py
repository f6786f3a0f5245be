"""The version of cotation (also the key of its caches: a new version never reuses old kernels)."""

__version__ = "0.1.0"
