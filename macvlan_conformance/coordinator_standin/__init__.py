"""A stand-in for Spiderpool's coordinator CNI plugin (see ``plugin``)."""
