"""`python -m infra`: synthesize every stack into cdk.out/ and fail on a cdk-nag finding."""

import sys

from infra.app import main

sys.exit(main(sys.argv[1:]))
