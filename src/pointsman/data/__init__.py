"""Routing data: the RoutingDataset, loaders for the public formats, leak-free splits, cost models."""
