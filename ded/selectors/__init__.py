"""Selection recipes (ded, limo, s1k, rsr) built from shared blocks: filters, farthest-P, budget with k-center."""
