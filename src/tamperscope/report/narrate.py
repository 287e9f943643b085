"""Optional narrative: the grounded explanation rewritten as a paragraph by a local LLM.

Off by default. When the user configures an OpenAI-compatible endpoint (a local
llama.cpp, vLLM or Ollama server, say), the grounded explanation and the
evidence summaries, never the pixels unless ``include_image`` is set, are sent
to ``POST {endpoint}/chat/completions`` with instructions to rewrite them
without adding anything. The grounded explanation stays the source of truth and
is always shown beside the narrative; a failure of the endpoint is recorded in
the report, never fatal.
"""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from .explain import Explanation

SYSTEM_PROMPT = (
    "You rewrite image-forensics findings for a newsroom. Write one plain paragraph of at most 150 words. "
    "Use only the facts in the findings you are given: do not add causes, intentions, people, places, "
    "or any claim they do not state; keep every number as given; keep the uncertainty they express; "
    "if the findings say nothing was found, say that and nothing more."
)


@dataclass(frozen=True)
class NarrativeConfig:
    """Where and how to ask for a narrative.

    Parameters
    ----------
    endpoint : str
        Base URL of an OpenAI-compatible API, e.g. ``http://127.0.0.1:8080/v1``.
    model : str
        Model name the server expects.
    api_key : str or None
        Sent as a bearer token when given.
    timeout_s : float
        Seconds to wait for the answer.
    include_image : bool
        Also send a downscaled copy of the image (off by default).
    """

    endpoint: str
    model: str = "local"
    api_key: str | None = None
    timeout_s: float = 60.0
    include_image: bool = False


@dataclass
class Narrative:
    text: str | None
    model: str
    endpoint: str
    error: str | None = None
    image_sent: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "model": self.model,
            "endpoint": self.endpoint,
            "error": self.error,
            "image_sent": self.image_sent,
            "source_of_truth": "explanation",
        }


def findings(explanation: Explanation, evidence: list[dict[str, Any]]) -> str:
    """The text sent to the model: the grounded sentences and the evidence summaries."""
    lines = []
    for section in explanation.sections:
        if section.sentences:
            lines.append(f"{section.title}:")
            lines.extend(f"- {sentence.text}" for sentence in section.sentences)
    lines.append("Evidence:")
    for item in evidence:
        score = "n/a" if item.get("score") is None else item["score"]
        lines.append(f"- {item['detector']}: status {item['status']}, score {score}")
    return "\n".join(lines)


def narrate(
    explanation: Explanation, evidence: list[dict[str, Any]], config: NarrativeConfig, pixels=None
) -> Narrative:
    """Ask the configured endpoint for a paragraph; errors are returned, not raised."""
    user: Any = findings(explanation, evidence)
    image_sent = False
    if config.include_image and pixels is not None:
        user = [{"type": "text", "text": user}, {"type": "image_url", "image_url": {"url": _data_url(pixels)}}]
        image_sent = True
    body = {
        "model": config.model,
        "temperature": 0,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
    }
    headers = {"Content-Type": "application/json"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    url = config.endpoint.rstrip("/") + "/chat/completions"
    result = Narrative(text=None, model=config.model, endpoint=config.endpoint, image_sent=image_sent)
    if not url.startswith(("http://", "https://")):
        result.error = f"endpoint must be an http(s) URL, got {config.endpoint!r}"
        return result
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=config.timeout_s) as response:  # noqa: S310 - user-set URL
            answer = json.loads(response.read(1_000_000))
        text = answer["choices"][0]["message"]["content"]
        if not isinstance(text, str) or not text.strip():
            raise ValueError("empty answer")
        result.text = text.strip()
    except urllib.error.HTTPError as exc:
        result.error = f"the endpoint answered HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        result.error = f"the endpoint could not be reached ({getattr(exc, 'reason', exc)})"
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        result.error = f"the endpoint's answer was not an OpenAI-style completion ({exc})"
    return result


def _data_url(pixels) -> str:
    from PIL import Image as PILImage

    image = PILImage.fromarray(pixels)
    image.thumbnail((1024, 1024))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
