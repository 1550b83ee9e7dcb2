"""The dashboard page served by `dpo serve` at `/`: static HTML, CSS and plain JavaScript.

No build step and no CDN: the files ship inside the package and the page works offline. It reads
the same JSON API as any other client, with a token kept in the browser session only.
"""

from pathlib import Path

STATIC = Path(__file__).parent / "static"
