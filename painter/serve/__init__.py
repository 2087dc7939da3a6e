"""`painter serve`: a page where anyone uploads photos and gets the paintings.

    images   what an upload may be, and how any size and aspect meets the square model
    worker   one thread that owns the model and paints batches of waiting requests
    model    a run's generators (through its family) or the stylizer, as painters
    app      the Flask app: the page and POST /api/paint, GET /api/model, GET /healthz
    server   waitress in front of it, and `serve()` that puts the pieces together

Only `server.serve` and `model.load_served_model` import TensorFlow (when they run).
"""

from painter.serve.server import serve

__all__ = ["serve"]
