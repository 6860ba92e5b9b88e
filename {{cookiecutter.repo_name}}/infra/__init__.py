"""The project's AWS runtime as code (AWS CDK): one shared stack and one stack per environment.

`python -m infra` (`make infra-synth`) synthesizes every stack into `cdk.out/` offline; the
CDK CLI (`make infra-diff`, `make infra-deploy`) runs the same app through `cdk.json`.
"""
