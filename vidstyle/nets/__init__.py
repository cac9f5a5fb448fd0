"""Networks: the VGG-19 loss network, feed-forward transformers and decoders."""
