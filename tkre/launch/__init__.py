"""The only package that imports ray.train / ray.tune: contexts and trainers around the plain train loops."""
