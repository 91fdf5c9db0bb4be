"""Operations: compile the pipelines, run them locally, submit and schedule them on
Kubeflow Pipelines or Vertex AI, and publish registry versions to Vertex AI.
"""
