"""Training stage: the scikit-learn Pipeline, its model folder, and tuning trials."""
