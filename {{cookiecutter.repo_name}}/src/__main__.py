import warnings

# Python 3.12+ reports a dependency's invalid escape sequences (Evidently's) as SyntaxWarning
# when its first import compiles the source: noise on every error line, never this project's.
warnings.filterwarnings("ignore", category=SyntaxWarning)

from src.cli import main  # noqa: E402

main()
