"""Pieces shared by SkyPost nodes: the site world description."""
