"""The training pipeline, one module per step of the seed:

1. extraction     features from the feature store, validated
2. preprocessing  split into train and holdout
3. training       the candidate, tracked in MLflow
4. evaluation     metrics against the naive baseline and the production model
5. registration   a new registry version with tags and a model card
6. promotion      `staging` behind the baseline gate, then `production` behind the
                  production gate
"""
