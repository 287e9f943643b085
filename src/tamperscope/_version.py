"""The package version, in a module of its own so that modules below the public API can read it.

``tamperscope/__init__`` imports the API; a module the API imports (the report schema) taking ``__version__``
from there would import in a circle.
"""

__version__ = "0.1.0"
