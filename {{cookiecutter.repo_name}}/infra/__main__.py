"""`python -m infra`: synthesize every stack into cdk.out/ and fail on a cdk-nag finding."""

from __future__ import annotations

import sys

from infra.app import build_app, synthesize


def main() -> int:
    assembly, errors = synthesize(build_app())
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if assembly is None:
        print(f"infra-synth: {len(errors)} cdk-nag finding(s); nothing to deploy", file=sys.stderr)
        return 1
    stacks = ", ".join(stack.stack_name for stack in assembly.stacks)
    print(f"infra-synth: {len(assembly.stacks)} stacks ({stacks}) in {assembly.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
