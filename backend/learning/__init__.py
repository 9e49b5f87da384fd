"""The learning loop: training data reviewed in the console, training runs done by the
worker (trainer/), the model registry, the activation gate, and the model server every
Rasa replica pulls from."""
