"""diffusion: the torch variance-scaled reverse sampler, guidance, operators and priors."""
