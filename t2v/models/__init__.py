"""Models: plain nn.Modules whose constructor arguments are their config."""
