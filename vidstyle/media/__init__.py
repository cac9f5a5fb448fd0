"""Media in and out: stills, videos (PyAV), live sources. uint8 ↔ tensor conversion happens here only."""
