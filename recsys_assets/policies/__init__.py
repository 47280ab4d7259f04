"""Versioned policies as typed YAML: CTR weights, sampler policies, comparison arms; the packaged
defaults live in the subfolders, a user's in RECSYS_POLICY_DIR."""
