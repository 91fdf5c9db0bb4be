"""KFP pipelines composed from the components."""
