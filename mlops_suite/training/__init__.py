"""Training stage: the scikit-learn Pipeline and its model folder."""
