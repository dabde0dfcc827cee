# The modules under test live in bench/ and are run as scripts there, not installed as a package.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
