"""The AI part: prospect base, conversion model, ideal customer profile, scoring, rep
affinity, lead assignment, explanations and the bias report."""
