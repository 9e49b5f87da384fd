"""The staff inbox: questions the assistant could not answer, captured and grouped."""
