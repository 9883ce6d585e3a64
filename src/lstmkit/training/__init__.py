"""Training with Keras's names: losses, metrics, optimizers, schedules, callbacks, the fit loop."""
