"""Video sources (file, URL, camera) and sinks (file, preview, null)."""
