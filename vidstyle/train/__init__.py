"""Training of the project's own networks: feed-forward stylisers (:mod:`.loop`), their lite
distillations (:mod:`.distil`), and the shared plumbing (:mod:`.common`) other trainers reuse."""
