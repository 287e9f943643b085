"""Content Credentials: read and validate a C2PA manifest embedded in the file.

A C2PA manifest is a signed claim about how an asset was made (C2PA Technical
Specification 2.1, https://c2pa.org/specifications/). Its *hard binding* hashes
the file's bytes outside the manifest, and a COSE signature covers the claim, so:

* a hash mismatch (``assertion.dataHash.mismatch`` and its BMFF/box variants)
  means the pixels changed after signing, and a broken claim signature or
  assertion hash means the claim itself was altered: strong evidence of an edit;
* a valid manifest states the asset's source type with the IPTC
  DigitalSourceType vocabulary (``trainedAlgorithmicMedia`` = made by a
  generative model, ``compositeWithTrainedAlgorithmicMedia`` = a real image
  with AI-generated parts, ``digitalCapture`` = a camera) and lists the actions
  applied (``c2pa.created``, ``c2pa.edited``, ``c2pa.cropped``...);
* a signature is *valid* when it verifies and *trusted* only when its
  certificate chains to a trust anchor the user supplied (a PEM file). Anyone
  can sign with a self-made certificate, so an untrusted manifest's claim of an
  untouched camera capture is reported but does not decide; its declaration of
  AI generation does (nobody gains by falsely declaring AI).

Validation uses the reference SDK (c2pa-python, on c2pa-rs) on the file's own
bytes, offline: remote manifests and OCSP are not fetched.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..image import Image
from .registry import register
from .base import Detector, Finding, NotApplicable

#: Environment variable naming a PEM file of trust anchors (used when the parameter is not set).
TRUST_ANCHORS_ENV = "TAMPERSCOPE_TRUST_ANCHORS"

_MIME = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "TIFF": "image/tiff",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
    "AVIF": "image/avif",
}

IPTC_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"

#: Actions that do not change what the picture shows (C2PA 2.1, section 18.13.4); a metadata-only edit leaves the pixels alone.
_NEUTRAL_ACTIONS = frozenset(
    {"c2pa.created", "c2pa.opened", "c2pa.published", "c2pa.transcoded", "c2pa.repackaged", "c2pa.converted",
     "c2pa.watermarked", "c2pa.edited.metadata", "c2pa.unknown"}
)
_GENERATIVE_ACTIONS = frozenset({"c2pa.edited.inpainted", "c2pa.inpainted", "c2pa.generative_fill"})

_HASH_MISMATCH = re.compile(r"(dataHash|bmffHash|boxesHash|collectionHash)\.mismatch")
_CLAIM_BROKEN = re.compile(r"(claimSignature\.mismatch|assertion\.hashedURI\.mismatch|claim\.missing|"
                           r"assertion\.missing|ingredient\.manifest\.missing|ingredient\.hashedURI\.mismatch)")
_CREDENTIAL_ONLY = re.compile(r"^(signingCredential|timeStamp)\.")

# Strengths on the detector score scale: >= 0.5 decides. Fixed by what the check proves, not fitted.
STRENGTH_HASH_MISMATCH = 0.95  # cryptographic: the bytes differ from those signed
STRENGTH_CLAIM_BROKEN = 0.9  # cryptographic: the claim or an assertion was altered
STRENGTH_OTHER_FAILURE = 0.6  # the SDK rejects the manifest for another structural reason
STRENGTH_CREDENTIAL = 0.3  # expired or revoked certificate: says nothing about the pixels
STRENGTH_AI_TRUSTED, STRENGTH_AI_UNTRUSTED = 0.97, 0.9
STRENGTH_DECLARED_EDIT = 0.6
STRENGTH_CAPTURE_TRUSTED, STRENGTH_CAPTURE_UNTRUSTED = 0.9, 0.4
STRENGTH_INGREDIENT_INVALID = 0.4
STRENGTH_UNREADABLE = 0.3


@register
@dataclass
class C2paDetector(Detector):
    """Content Credentials (C2PA) presence, validity, trust, actions and source type.

    Parameters
    ----------
    trust_anchors : str or None
        Path of a PEM file of trusted root certificates. Default: the file named
        by ``$TAMPERSCOPE_TRUST_ANCHORS``; without one, a valid signature is
        reported as valid but untrusted.

    Notes
    -----
    ``score`` is the strength of the strongest fact, for the class in
    ``facts["indicates"]``: 0.95 hash mismatch (edited), 0.9 broken claim
    signature (edited), 0.9/0.97 AI generation declared (ai-generated, or
    ai-edited for composites and generative edits; untrusted/trusted), 0.6
    declared edits (edited), 0.9 trusted camera capture without edits
    (authentic; 0.4 when untrusted, which does not decide).
    """

    name: ClassVar[str] = "c2pa"
    version: ClassVar[str] = "1"
    citation: ClassVar[str] = "C2PA Technical Specification 2.1 (Coalition for Content Provenance and Authenticity, 2024)"
    summary: ClassVar[str] = "Signed Content Credentials: validity, trust, declared actions and source type"
    title: ClassVar[str] = "Content Credentials (C2PA)"
    trace: ClassVar[str] = "is covered by the file's signed Content Credentials"
    kind: ClassVar[str] = "provenance"

    trust_anchors: str | None = None

    def analyze(self, image: Image) -> Finding:
        if image.file_bytes is None:
            raise NotApplicable("a pixel array has no file to carry Content Credentials")
        mime = _MIME.get(image.format)
        if mime is None:
            raise NotApplicable(f"Content Credentials are not read from {image.format} files")
        try:
            import c2pa
        except ImportError:
            raise NotApplicable("c2pa-python is not installed (pip install c2pa-python)") from None

        anchors = self._anchor_pem()
        try:
            reader = c2pa.Reader(mime, stream=io.BytesIO(image.file_bytes), context=_context(c2pa, anchors))
        except Exception as exc:  # the SDK signals "no manifest" and every other problem by exception
            return _unreadable(exc, image)
        with reader:
            store = json.loads(reader.json())
            state = str(reader.get_validation_state() or "")
        return assess(store, state, anchors_given=anchors is not None)

    def _anchor_pem(self) -> str | None:
        path = self.trust_anchors or os.environ.get(TRUST_ANCHORS_ENV)
        if not path:
            return None
        try:
            return Path(path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise NotApplicable(f"the trust anchors {path} cannot be read ({exc})") from None


def _context(c2pa, anchors: str | None):
    # Offline by design: a remote manifest or OCSP responder would make the verdict depend on the network.
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchors:
        settings["verify"]["verify_trust"] = True
        settings["trust"] = {"trust_anchors": anchors}
    return c2pa.Context(c2pa.Settings.from_dict(settings))


def _unreadable(exc: Exception, image: Image) -> Finding:
    message = " ".join(str(exc).split())[:300]
    if "ManifestNotFound" in type(exc).__name__ or "ManifestNotFound" in message:
        raise NotApplicable("the file carries no Content Credentials")
    if message.startswith("Remote:"):
        url = re.search(r"https?://\S+", message)
        raise NotApplicable(
            "the Content Credentials are stored remotely"
            + (f" ({url.group(0)})" if url else "")
            + " and are not fetched: analysis is offline"
        )
    if not image.metadata.c2pa_present:
        raise NotApplicable(f"no readable Content Credentials ({message})")
    return Finding(
        score=STRENGTH_UNREADABLE,
        notes=[f"The file embeds a Content Credentials manifest that the C2PA SDK cannot read ({message})."],
        facts={"indicates": "edited", "manifest": True, "readable": False, "error": message},
    )


def assess(store: dict[str, Any], state: str, anchors_given: bool) -> Finding:
    """Turn a manifest store (the SDK's JSON) and its validation state into a Finding."""
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest") or "", {})
    statuses = store.get("validation_status") or []
    failures = [str(s.get("code", "")) for s in statuses]
    trusted = state.lower() == "trusted"
    valid = state.lower() in {"valid", "trusted"}
    actions = _actions(active)
    sources = sorted({a["digital_source_type"] for a in actions if a.get("digital_source_type")})
    ingredients = [_ingredient(i) for i in active.get("ingredients") or []]
    signature = active.get("signature_info") or {}
    facts: dict[str, Any] = {
        "manifest": True,
        "manifests": len(manifests),
        "validation_state": state,
        "signature_valid": valid,
        "trusted": trusted,
        "trust_anchors_given": anchors_given,
        "failure_codes": sorted(set(failures)),
        "claim_generator": _generator(active),
        "signer": signature.get("issuer") or signature.get("common_name"),
        "signed_at": signature.get("time"),
        "actions": [a["action"] for a in actions],
        "digital_source_types": sources,
        "ingredients": ingredients,
    }
    candidates = _validation_facts(failures, valid) + _declaration_facts(actions, valid, trusted, ingredients)
    if not candidates:
        candidates = [(0.0, "edited", "The Content Credentials verify and declare no edits and no source type.")]
    candidates.sort(key=lambda c: -c[0])
    score, indicates, _ = candidates[0]
    trust = ("trusted" if trusted else "valid but untrusted (no trust anchor given)" if not anchors_given
             else "valid but untrusted (not signed by a given trust anchor)") if valid else "invalid"
    notes = [f"Content Credentials by {facts['claim_generator'] or 'an unnamed generator'}: signature {trust}."]
    notes += [text for _, _, text in candidates if text]
    facts["indicates"] = indicates
    facts["findings"] = [{"strength": s, "indicates": i, "fact": t} for s, i, t in candidates]
    return Finding(score=score, notes=notes, facts=facts)


def _validation_facts(failures: list[str], valid: bool) -> list[tuple[float, str, str]]:
    found = []
    hash_codes = sorted({c for c in failures if _HASH_MISMATCH.search(c)})
    claim_codes = sorted({c for c in failures if _CLAIM_BROKEN.search(c)})
    if hash_codes:
        found.append((STRENGTH_HASH_MISMATCH, "edited",
                      f"The file's bytes no longer match the hash signed in its Content Credentials "
                      f"({', '.join(hash_codes)}): it was changed after signing."))
    if claim_codes:
        found.append((STRENGTH_CLAIM_BROKEN, "edited",
                      f"The signed claim does not verify ({', '.join(claim_codes)}): the credentials were "
                      "altered after signing."))
    if not valid and not hash_codes and not claim_codes:
        other = sorted({c for c in failures if not c.endswith("untrusted")})
        if other and all(_CREDENTIAL_ONLY.match(c) for c in other):
            found.append((STRENGTH_CREDENTIAL, "edited",
                          f"The signing credential is not acceptable ({', '.join(other)}); that says nothing "
                          "about the pixels."))
        else:
            found.append((STRENGTH_OTHER_FAILURE, "edited",
                          f"The C2PA SDK rejects the Content Credentials ({', '.join(other) or 'invalid'})."))
    return found


def _declaration_facts(actions: list[dict[str, Any]], valid: bool, trusted: bool,
                       ingredients: list[dict[str, Any]]) -> list[tuple[float, str, str]]:
    if not valid:
        return []  # an invalid claim's declarations are not facts about this file
    found = []
    sources = {a.get("digital_source_type") for a in actions}
    created = [a for a in actions if a["action"] == "c2pa.created"]
    created_sources = {a.get("digital_source_type") for a in created}
    generative = [a for a in actions if a["action"] in _GENERATIVE_ACTIONS]
    edits = sorted({a["action"] for a in actions if a["action"] not in _NEUTRAL_ACTIONS})
    ai = STRENGTH_AI_TRUSTED if trusted else STRENGTH_AI_UNTRUSTED
    if "trainedAlgorithmicMedia" in created_sources:
        found.append((ai, "ai-generated", "The Content Credentials declare that the image was created by a "
                      "generative AI model (digitalSourceType trainedAlgorithmicMedia)."))
    elif "compositeWithTrainedAlgorithmicMedia" in sources or generative or (
        "trainedAlgorithmicMedia" in sources
    ):
        what = "compositeWithTrainedAlgorithmicMedia" if "compositeWithTrainedAlgorithmicMedia" in sources else (
            ", ".join(a["action"] for a in generative) or "trainedAlgorithmicMedia in an edit")
        agents = sorted({a["software_agent"] for a in actions if a.get("software_agent")})
        by = f" with {', '.join(agents)}" if agents else ""
        found.append((ai, "ai-edited", f"The Content Credentials declare AI-generated content inside the image "
                      f"({what}{by})."))
    elif "algorithmicMedia" in created_sources:
        found.append((STRENGTH_DECLARED_EDIT, "ai-generated", "The Content Credentials declare that the image was "
                      "generated by an algorithm (digitalSourceType algorithmicMedia, not a trained model)."))
    if edits:
        found.append((STRENGTH_DECLARED_EDIT, "edited",
                      f"The Content Credentials declare edits: {', '.join(edits)}."))
    if not edits and not found and created_sources & {"digitalCapture", "computationalCapture"}:
        strength = STRENGTH_CAPTURE_TRUSTED if trusted else STRENGTH_CAPTURE_UNTRUSTED
        found.append((strength, "authentic", "The Content Credentials declare a camera capture with no edits"
                      + ("." if trusted else "; the signer is not trusted, so this is reported, not relied on.")))
    bad = [i["title"] for i in ingredients if i.get("valid") is False]
    if bad:
        found.append((STRENGTH_INGREDIENT_INVALID, "edited",
                      f"The credentials of ingredient(s) {', '.join(map(str, bad))} do not verify."))
    return found


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            source = str(action.get("digitalSourceType") or "")
            agent = action.get("softwareAgent")
            if isinstance(agent, dict):
                agent = agent.get("name")
            found.append({
                "action": str(action.get("action", "")),
                "digital_source_type": source.rsplit("/", 1)[-1] if source else None,
                "software_agent": agent if isinstance(agent, str) else None,
            })
    return found


def _ingredient(ingredient: dict[str, Any]) -> dict[str, Any]:
    codes = [str(s.get("code", "")) for s in ingredient.get("validation_status") or []]
    broken = [c for c in codes if _HASH_MISMATCH.search(c) or _CLAIM_BROKEN.search(c)]
    has_manifest = bool(ingredient.get("active_manifest") or ingredient.get("manifest_data"))
    return {
        "title": ingredient.get("title"),
        "relationship": ingredient.get("relationship"),
        "has_credentials": has_manifest,
        "valid": (not broken) if has_manifest else None,
        "failure_codes": broken,
    }


def _generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        first = info[0]
        return f"{first['name']} {first.get('version', '')}".strip()
    generator = manifest.get("claim_generator")
    return str(generator) if generator else None
