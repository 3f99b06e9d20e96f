"""`vloc benchmark`: speed, memory and accuracy measurements of stages and recipes."""
