"""analogc: compile neural networks onto analog hardware, estimate their cost, run them noisily."""
