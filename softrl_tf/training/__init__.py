"""Training: configs, collection, the loop, logging."""
