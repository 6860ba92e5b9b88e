"""The training pipeline, one module per step of the seed, run in order by `pipeline.py`:

1. extraction     the labelled rows of the feature store, as of one snapshot, checked
2. preprocessing  the split into training rows and a holdout
3. training       the Optuna search with cross-validation, each trial an MLflow child run
4. evaluation     the candidate against the naive baseline and production, error analysis
5. registration   a registry version with lineage tags, reference set and model card
6. promotion      `staging` behind the baseline gate and integration checks, then
                  `production` behind the production gate, under the promotion lock
"""
