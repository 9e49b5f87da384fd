"""The training worker (`python -m trainer`): turns a training run queued in the staff
console into a trained, evaluated candidate model (the store's learning loop)."""
