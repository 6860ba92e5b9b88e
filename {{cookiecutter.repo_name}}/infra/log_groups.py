"""CloudWatch log groups with the environment's retention in days."""

from __future__ import annotations

from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct


def build_log_group(
    scope: Construct, construct_id: str, days: int, name: str | None = None
) -> logs.LogGroup:
    group = logs.LogGroup(
        scope, construct_id, log_group_name=name, removal_policy=cdk.RemovalPolicy.RETAIN
    )
    # RetentionDays is an enum of CloudWatch's allowed values; the config gives a number.
    cast(logs.CfnLogGroup, group.node.default_child).retention_in_days = days
    return group
