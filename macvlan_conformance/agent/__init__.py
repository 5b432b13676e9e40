"""The in-pod probe agent: JSON lines on a stream, one request at a time, the same on every target."""
